//! `offload run` end to end against the REAL Codex CLI (`.tools/bin/codex`, 0.171.0), which
//! talks to a scripted mock Responses API on 127.0.0.1 ([`offload_testkit::responses`]).
//! The same behaviours against a fake codex, faster and with every ending on demand, are in
//! `runner.rs`. Without the real codex these tests skip (and fail on CI: run
//! `scripts/install-clients.sh`), except the missing-codex case, which needs none.
//!
//! Every test has its own mock server, its own throwaway `CODEX_HOME` and its own
//! `OFFLOAD_HOME`, so they run in parallel. Each failure case runs twice at once: fail-closed
//! (the default, exit 20) and fail-open (its distinct exit code).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use offload_testkit::codex::{CodexHome, read_jsonl, require_real_codex};
use offload_testkit::responses::{MockResponses, RateHeaders, Reply, Usage, refused_port};
use serde_json::{Value, json};
use shared::ledger::{AttemptFinished, Body, Event, Tokens};
use shared::outcome::Outcome;
use support::{Done, Run, Sandbox, alive_after, offload_bin, repo_root};

/// Timeout for runs that should finish by themselves: bounds a broken one, never reached.
const BOUND: &str = "60";
/// The short wall-clock limit of the timeout cases, and the kill grace they use.
const SHORT: Duration = Duration::from_secs(2);
const GRACE: Duration = Duration::from_secs(1);
/// How long the test waits for offload itself before ending it (a hung product).
const WATCHDOG: Duration = Duration::from_secs(90);

/// One isolated world: a mock server (absent for "server down"), a `CODEX_HOME` pointing at
/// it, an `OFFLOAD_HOME`, and the real codex.
struct World {
    codex: PathBuf,
    mock: Option<MockResponses>,
    home: CodexHome,
    sb: Sandbox,
}

impl World {
    fn new(codex: &Path, script: Vec<Reply>) -> World {
        let mock = MockResponses::with_script(script).expect("start the mock server");
        let home = CodexHome::new(&mock.base_url());
        World {
            codex: codex.to_path_buf(),
            mock: Some(mock),
            home,
            sb: Sandbox::new(),
        }
    }

    /// A world whose provider URL refuses connections: codex retries forever.
    fn server_down(codex: &Path) -> World {
        let home = CodexHome::new(&format!("http://127.0.0.1:{}/v1", refused_port()));
        World {
            codex: codex.to_path_buf(),
            mock: None,
            home,
            sb: Sandbox::new(),
        }
    }

    fn mock(&self) -> &MockResponses {
        self.mock.as_ref().expect("this world has a mock server")
    }

    /// The folder holding this world's `CODEX_HOME`, `HOME` and `TMPDIR`: unique to it, and
    /// in the environment of every process offload starts for it.
    fn marker(&self) -> PathBuf {
        self.home.path().parent().unwrap().to_path_buf()
    }

    /// `program` with this world's environment, and nothing from the developer's shell that
    /// could steer offload or codex elsewhere.
    fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Run::new(program).command();
        for (name, _) in std::env::vars_os() {
            let n = name.to_string_lossy();
            if n.starts_with("OPENAI_")
                || n.starts_with("CODEX_")
                || n.to_ascii_uppercase().ends_with("_PROXY")
                || n == "RUST_LOG"
            {
                cmd.env_remove(&name);
            }
        }
        cmd.envs(self.home.envs())
            .env("OFFLOAD_HOME", self.sb.home())
            .env("CODEX_BIN", &self.codex)
            .env("CODEX_TIMEOUT", BOUND)
            .env("OFFLOAD_KILL_GRACE", GRACE.as_secs().to_string())
            .current_dir(self.sb.work());
        cmd
    }

    /// `offload run` in this world.
    fn offload(&self) -> Command {
        let mut cmd = self.command(offload_bin());
        cmd.arg("run");
        cmd
    }

    fn finished(&self) -> Vec<AttemptFinished> {
        self.sb.finished()
    }

    fn only_finished(&self) -> AttemptFinished {
        let f = self.finished();
        assert_eq!(f.len(), 1, "one attempt recorded: {f:?}");
        f.into_iter().next().unwrap()
    }

    /// The model-turn requests codex made, as JSON text (to look for the prompt and so on).
    fn request_texts(&self) -> Vec<String> {
        self.mock()
            .responses_requests()
            .iter()
            .map(|r| r.body.to_string())
            .collect()
    }
}

/// A started offload, watched by the test.
struct Running {
    child: Child,
    started: Instant,
    stdout: JoinHandle<Vec<u8>>,
    stderr: JoinHandle<Vec<u8>>,
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

impl Running {
    fn spawn(mut cmd: Command) -> Running {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = cmd.spawn().expect("spawn offload");
        let stdout = drain(child.stdout.take());
        let stderr = drain(child.stderr.take());
        Running {
            child,
            started,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Wait for offload to exit (ending it after [`WATCHDOG`]); its output and how long it took.
    fn finish(mut self) -> (Done, Duration) {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait for offload") {
                break status;
            }
            if self.started.elapsed() > WATCHDOG {
                // SAFETY: signalling the offload process this test spawned, by its pid; SIGTERM
                // lets it end its codex first.
                unsafe {
                    libc::kill(self.child.id() as i32, libc::SIGTERM);
                }
                thread::sleep(Duration::from_secs(5));
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("offload did not exit within {WATCHDOG:?}");
            }
            thread::sleep(Duration::from_millis(10));
        };
        let took = self.started.elapsed();
        let out = Output {
            status,
            stdout: self.stdout.join().unwrap_or_default(),
            stderr: self.stderr.join().unwrap_or_default(),
        };
        (Done(out), took)
    }
}

fn run(cmd: Command) -> Done {
    Running::spawn(cmd).finish().0
}

/// Runs `case(fail_closed)` for both settings at once and returns (closed, open) results.
fn both<T: Send>(case: impl Fn(bool) -> T + Sync) -> (T, T) {
    thread::scope(|s| {
        let closed = s.spawn(|| case(true));
        let open = s.spawn(|| case(false));
        (closed.join().unwrap(), open.join().unwrap())
    })
}

/// `offload run` for one fail-closed setting, by the env variable or the flag, alternately.
fn with_fail_closed(mut cmd: Command, fail_closed: bool, by_flag: bool) -> Command {
    match (fail_closed, by_flag) {
        (true, _) => {}
        (false, true) => {
            cmd.arg("--fail-closed=0");
        }
        (false, false) => {
            cmd.env("CODEX_FAIL_CLOSED", "0");
        }
    }
    cmd
}

fn summary_line(done: &Done) -> String {
    let err = done.stderr();
    err.lines()
        .rev()
        .find(|l| l.starts_with("offload: "))
        .unwrap_or_else(|| panic!("no summary line on stderr:\n{err}"))
        .to_string()
}

fn tokens(t: &Tokens) -> (u64, u64, u64, u64, u64) {
    (t.input, t.cached_input, t.output, t.reasoning, t.total)
}

/// A failure case: the reply, the outcome, the fail-open code; checks both settings, the
/// ledger, an empty stdout and the summary line. Returns the recorded attempts.
fn failure_case(
    codex: &Path,
    reply: impl Fn() -> Reply + Sync,
    outcome: Outcome,
    open_code: i32,
) -> [(World, AttemptFinished, Done); 2] {
    let (closed, open) = both(|fail_closed| {
        let w = World::new(codex, vec![reply()]);
        let mut cmd = w.offload();
        cmd.args(["say hi", "read-only", "."]);
        let expected = if fail_closed { 20 } else { open_code };
        let done =
            // Fail-open by the flag for `failed` (12), by `CODEX_FAIL_CLOSED=0` for `limited` (13).
            run(with_fail_closed(cmd, fail_closed, open_code == 12)).expect_code(expected);
        assert_eq!(done.stdout(), "", "no answer on failure");
        let f = w.only_finished();
        assert_eq!(f.outcome, outcome, "{f:?}\n{}", done.stderr());
        assert_eq!(f.exit_code as i32, expected);
        assert_eq!(f.codex_exit, Some(1), "codex exited 1 by itself: {f:?}");
        let line = summary_line(&done);
        // The default model is not in the real codex's catalog: the line says so.
        assert!(
            line.starts_with(&format!("offload: ✗ {outcome} · gpt-5.4 (not in codex "))
                && line.contains("'s catalog: fallback metadata) · read-only · "),
            "{line}"
        );
        assert!(line.contains(&format!("exit {expected}")), "{line}");
        assert_eq!(w.mock().responses_requests().len(), 1, "codex asked once");
        let t = w.sb.ledger().totals().expect("totals.json");
        assert_eq!((t.attempts, t.successes, t.failures), (1, 0, 1));
        (w, f, done)
    });
    [closed, open]
}

// ---------------------------------------------------------------------------------------------
// Processes: find codex by the unique folder in its environment, never by name.

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Live processes (not zombies) whose environment or command line mentions `marker`.
fn processes_mentioning(marker: &Path) -> BTreeSet<u32> {
    let needle = format!("{}/", marker.display());
    let me = std::process::id();
    let mut found = BTreeSet::new();
    for entry in fs::read_dir("/proc").expect("read /proc").flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        let mentions = ["environ", "cmdline"]
            .iter()
            .any(|f| fs::read(entry.path().join(f)).is_ok_and(|b| contains(&b, needle.as_bytes())));
        if mentions && alive_after(pid, 0) {
            found.insert(pid);
        }
    }
    found
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit(')')
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether `pid` descends from `ancestor` (None when the chain could not be read to its end).
fn descends_from(pid: u32, ancestor: u32) -> Option<bool> {
    let mut p = pid;
    for _ in 0..64 {
        let parent = parent_of(p)?;
        if parent == ancestor {
            return Some(true);
        }
        if parent <= 1 {
            return Some(false);
        }
        p = parent;
    }
    Some(false)
}

/// What the watcher saw of one process while offload ran.
#[derive(Debug, Default)]
struct Seen {
    /// Every name it had (a child shows its parent's name until it execs).
    names: BTreeSet<String>,
    /// Whether its parent chain led to offload at some sighting.
    under_offload: bool,
    /// Whether its parent chain ended at init instead at some sighting (it was orphaned).
    orphaned: bool,
}

/// Start offload, watch the processes it starts for this world while it runs (codex must be
/// among them, under offload), wait for it, then check that none of them is left.
fn run_watching_processes(w: &World, cmd: Command) -> (Done, Duration) {
    let marker = w.marker();
    let mut running = Running::spawn(cmd);
    let offload = running.pid();
    let mut seen: BTreeMap<u32, Seen> = BTreeMap::new();
    while running.is_running() {
        for pid in processes_mentioning(&marker) {
            if pid == offload {
                continue;
            }
            let entry = seen.entry(pid).or_default();
            if let Ok(name) = fs::read_to_string(format!("/proc/{pid}/comm")) {
                entry.names.insert(name.trim().to_string());
            }
            match descends_from(pid, offload) {
                Some(true) => entry.under_offload = true,
                Some(false) => entry.orphaned = true,
                None => {}
            }
        }
        thread::sleep(Duration::from_millis(25));
    }
    let (done, took) = running.finish();
    assert!(
        seen.values()
            .any(|s| s.under_offload && s.names.contains("codex")),
        "codex was not seen running under offload: {seen:?}\n{}",
        done.stderr()
    );
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let left = processes_mentioning(&marker);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes outlived offload: {left:?} (seen while it ran: {seen:?})"
        );
        thread::sleep(Duration::from_millis(20));
    }
    for (pid, s) in &seen {
        assert!(
            !alive_after(*pid, 0),
            "process {pid} {:?} outlived offload (orphaned while it ran: {})",
            s.names,
            s.orphaned
        );
    }
    (done, took)
}

/// `timeout_by_env`: the limit comes from `CODEX_TIMEOUT` (and fail-open from the flag), else
/// from `--timeout` (and fail-open from `CODEX_FAIL_CLOSED=0`).
fn timeout_case(world: impl Fn() -> World + Sync, timeout_by_env: bool) {
    both(|fail_closed| {
        let w = world();
        let mut cmd = w.offload();
        cmd.args(["say hi", "read-only", "."]);
        if timeout_by_env {
            cmd.env("CODEX_TIMEOUT", SHORT.as_secs().to_string());
        } else {
            cmd.args(["--timeout", &SHORT.as_secs().to_string()]);
        }
        let cmd = with_fail_closed(cmd, fail_closed, timeout_by_env);
        let (done, took) = run_watching_processes(&w, cmd);
        let done = done.expect_code(if fail_closed { 20 } else { 11 });
        assert!(took >= SHORT, "ended before the timeout: {took:?}");
        assert!(
            took < SHORT + GRACE + Duration::from_secs(4),
            "took {took:?}\n{}",
            done.stderr()
        );
        assert_eq!(done.stdout(), "");
        let f = w.only_finished();
        assert_eq!(f.outcome, Outcome::Timeout, "{f:?}");
        assert_eq!(f.exit_code, if fail_closed { 20 } else { 11 });
        assert!(f.duration_ms >= 2000, "{f:?}");
        assert!(
            f.error
                .as_deref()
                .unwrap_or_default()
                .contains("no result within 2s"),
            "{f:?}"
        );
        assert_eq!(f.tokens, Tokens::default());
        let line = summary_line(&done);
        assert!(line.starts_with("offload: ✗ timeout · "), "{line}");
        let events = w.sb.events();
        assert!(
            matches!(
                events.first().map(|e| &e.body),
                Some(Body::AttemptStarted(_))
            ),
            "attempt.started recorded first: {events:?}"
        );
    });
}

// ---------------------------------------------------------------------------------------------

#[test]
fn success_prints_the_answer_and_records_exact_tokens_and_thread() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(
        &codex,
        vec![Reply::message("hi from mock").usage(Usage {
            input: 1234,
            cached: 1000,
            output: 56,
            reasoning: 7,
        })],
    );
    let mut cmd = w.offload();
    cmd.args(["say hi", "read-only", "."]);
    let done = run(cmd).expect_code(0);

    assert_eq!(done.stdout(), "hi from mock\n");
    let line = summary_line(&done);
    assert_eq!(
        done.stderr().lines().last(),
        Some(line.as_str()),
        "summary is the last line"
    );
    assert!(
        line.starts_with("offload: ✓ success · gpt-5.4 (not in codex ")
            && line.contains("'s catalog: fallback metadata) · read-only · "),
        "{line}"
    );
    assert!(
        line.contains("tokens 1.3k (in 1.2k, cached 1k, out 56, reasoning 7)"),
        "{line}"
    );
    assert!(
        line.contains("no session") && line.ends_with("exit 0"),
        "{line}"
    );

    let f = w.only_finished();
    assert_eq!(f.outcome, Outcome::Success);
    assert_eq!((f.exit_code, f.codex_exit), (0, Some(0)));
    assert_eq!(tokens(&f.tokens), (1234, 1000, 56, 7, 1290));
    assert_eq!(f.model, "gpt-5.4");
    assert_eq!(f.sandbox, "read-only");
    assert_eq!(f.cwd, w.sb.work().display().to_string());
    assert_eq!(f.error, None);
    let thread_id = f.thread_id.clone().expect("thread_id recorded");
    let rollouts = w.home.rollouts();
    assert_eq!(rollouts.len(), 1, "{rollouts:?}");
    assert!(
        rollouts[0]
            .to_string_lossy()
            .ends_with(&format!("-{thread_id}.jsonl")),
        "the recorded thread is codex's: {rollouts:?} vs {thread_id}"
    );
    let t = w.sb.ledger().totals().expect("totals.json");
    assert_eq!((t.attempts, t.successes), (1, 1));
    let started =
        w.sb.events()
            .into_iter()
            .filter(|e| matches!(e.body, Body::AttemptStarted(_)))
            .count();
    assert_eq!(started, 1);
    assert_eq!(t.tokens, f.tokens);

    let requests = w.mock().responses_requests();
    assert_eq!(requests.len(), 1);
    let body = &requests[0].body;
    assert_eq!(
        body["model"], "gpt-5.4",
        "offload's model reached the server"
    );
    assert_eq!(
        body["reasoning"]["effort"], "xhigh",
        "{}",
        body["reasoning"]
    );
    assert!(body["input"].to_string().contains("say hi"), "{body}");
}

#[test]
fn rate_limit_headers_reach_the_ledger_and_totals() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let limits = RateHeaders::used(42.5, 13.0);
    let w = World::new(&codex, vec![Reply::message("hi").rate_limits(limits)]);
    let mut cmd = w.offload();
    cmd.args(["say hi", "read-only", "."]);
    run(cmd).expect_code(0);

    let snapshots: Vec<_> =
        w.sb.events()
            .into_iter()
            .filter_map(|e| match e.body {
                Body::RateLimits(s) => Some(s),
                _ => None,
            })
            .collect();
    assert_eq!(snapshots.len(), 1, "one rate_limits event: {snapshots:?}");
    let window = |s: &shared::codex::rollout::RateLimitSnapshot, minutes: u64| {
        s.window(minutes)
            .map(|w| (w.used_percent, w.resets_at))
            .unwrap_or_else(|| panic!("no {minutes}-minute window in {s:?}"))
    };
    for snap in [
        &snapshots[0],
        &w.sb.ledger().totals().unwrap().rate_limits.unwrap(),
    ] {
        assert_eq!(window(snap, 300), (42.5, Some(limits.primary_reset_at)));
        assert_eq!(window(snap, 10080), (13.0, Some(limits.secondary_reset_at)));
    }
}

#[test]
fn usage_limit_429_is_limited() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let limits = RateHeaders::used(100.0, 40.0);
    let cases = failure_case(
        &codex,
        || Reply::usage_limit(limits.primary_reset_at).rate_limits(limits),
        Outcome::Limited,
        13,
    );
    for (w, f, done) in &cases {
        let error = f.error.as_deref().unwrap_or_default();
        assert!(error.contains("hit your usage limit"), "{error}");
        assert!(summary_line(done).contains("hit your usage limit"));
        // The rollout of a failed turn still carries the limits: used 100 %.
        let snap =
            w.sb.ledger()
                .totals()
                .unwrap()
                .rate_limits
                .unwrap_or_else(|| panic!("rate limits recorded after a usage limit: {f:?}"));
        assert_eq!(
            snap.five_hour().map(|w| w.used_percent),
            Some(100.0),
            "{snap:?}"
        );
    }
}

#[test]
fn unauthorized_401_is_limited() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let cases = failure_case(
        &codex,
        || {
            Reply::status(
                401,
                json!({"error": {"message": "Incorrect API key provided: dummy.",
                                 "type": "invalid_request_error", "code": "invalid_api_key"}}),
            )
        },
        Outcome::Limited,
        13,
    );
    for (_, f, _) in &cases {
        assert!(
            f.error.as_deref().unwrap_or_default().contains("401"),
            "{f:?}"
        );
    }
}

#[test]
fn server_error_500_is_failed() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let cases = failure_case(
        &codex,
        || {
            Reply::status(
                500,
                json!({"error": {"message": "boom", "type": "server_error"}}),
            )
        },
        Outcome::Failed,
        12,
    );
    for (_, f, _) in &cases {
        let error = f.error.as_deref().unwrap_or_default();
        assert!(error.starts_with("codex exited 1: "), "{error}");
    }
}

#[test]
fn server_down_times_out_and_leaves_no_codex_behind() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    timeout_case(|| World::server_down(&codex), false);
}

#[test]
fn silent_server_times_out_and_leaves_no_codex_behind() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    timeout_case(
        || World::new(&codex, vec![Reply::hang_before_headers()]),
        true,
    );
}

#[test]
fn missing_codex_is_missing() {
    // Needs no real codex: the path does not exist.
    let (closed, open) = both(|fail_closed| {
        let sb = Sandbox::new();
        let mut cmd = sb
            .run()
            .arg("say hi")
            .env("CODEX_BIN", "/nonexistent")
            .command();
        if !fail_closed {
            cmd.env("CODEX_FAIL_CLOSED", "0");
        }
        let done = run(cmd).expect_code(if fail_closed { 20 } else { 10 });
        let f = sb.finished();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].outcome, Outcome::Missing);
        assert!(
            f[0].error
                .as_deref()
                .unwrap_or_default()
                .contains("codex not found"),
            "{:?}",
            f[0].error
        );
        assert!(summary_line(&done).starts_with("offload: ✗ missing"));
        assert_eq!(done.stdout(), "");
        f[0].exit_code
    });
    assert_eq!((closed, open), (20, 10));
}

#[test]
fn legacy_forms_and_the_shim_reach_codex() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(&codex, Vec::new());
    w.mock().set_default(Reply::message("legacy ok"));
    let other = w.sb.file("other");
    fs::create_dir_all(&other).unwrap();
    let o = other.display().to_string();
    let shim = repo_root().join("skills/plan-and-execute/codex-runner.sh");
    let shim_cmd = |args: &[&str]| {
        let mut cmd = w.command("bash");
        cmd.arg(&shim).args(args).env("OFFLOAD_BIN", offload_bin());
        cmd
    };
    let offload_cmd = |args: &[&str]| {
        let mut cmd = w.offload();
        cmd.args(args);
        cmd
    };
    let cases: Vec<(&str, Command, &str)> = vec![
        (
            "legacy two-args",
            offload_cmd(&["legacy two-args", &o]),
            "workspace-write",
        ),
        (
            "legacy three-args",
            offload_cmd(&["legacy three-args", &o, "read-only"]),
            "read-only",
        ),
        (
            "shim standard",
            shim_cmd(&["shim standard", "read-only", &o]),
            "read-only",
        ),
        (
            "shim legacy",
            shim_cmd(&["shim legacy", &o]),
            "workspace-write",
        ),
        (
            "shim legacy sandbox",
            shim_cmd(&["shim legacy sandbox", &o, "read-only"]),
            "read-only",
        ),
    ];
    for (i, (prompt, cmd, sandbox)) in cases.into_iter().enumerate() {
        let done = run(cmd).expect_code(0);
        assert_eq!(done.stdout(), "legacy ok\n", "{prompt}");
        let f = &w.finished()[i];
        assert_eq!(f.outcome, Outcome::Success, "{prompt}: {f:?}");
        assert_eq!(
            (f.sandbox.as_str(), f.cwd.as_str()),
            (sandbox, o.as_str()),
            "{prompt}"
        );
        let requests = w.request_texts();
        assert_eq!(requests.len(), i + 1, "{prompt}: one request per run");
        let last = &requests[i];
        assert!(
            last.contains(prompt),
            "{prompt}: the prompt reached the server"
        );
        assert!(
            last.contains(&format!("`sandbox_mode` is `{sandbox}`")),
            "{prompt}: codex got the sandbox"
        );
        assert!(
            last.contains(&format!("<cwd>{o}</cwd>")),
            "{prompt}: codex got the folder"
        );
    }
}

#[test]
fn sessions_from_the_flag_and_from_claude_code() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let usage = Usage {
        input: 500,
        cached: 100,
        output: 40,
        reasoning: 4,
    };
    let w = World::new(
        &codex,
        vec![
            Reply::message("one").usage(usage),
            Reply::message("two").usage(usage),
            Reply::message("three").usage(usage),
        ],
    );
    let mut cmd = w.offload();
    cmd.args(["say hi", "read-only", ".", "--session", "flag-s"]);
    run(cmd).expect_code(0);
    let mut cmd = w.offload();
    cmd.args(["say hi", "read-only", "."])
        .env("CLAUDE_CODE_SESSION_ID", "claude-s");
    run(cmd).expect_code(0);
    let mut cmd = w.offload();
    cmd.args(["say hi", "--session", "flag-s", "read-only"])
        .env("CLAUDE_CODE_SESSION_ID", "claude-s");
    run(cmd).expect_code(0);

    let ledger = w.sb.ledger();
    let flag = ledger.session("flag-s").expect("sessions/flag-s.json");
    let claude = ledger.session("claude-s").expect("sessions/claude-s.json");
    assert_eq!((flag.attempts, flag.successes, flag.failures), (2, 2, 0));
    assert_eq!((claude.attempts, claude.successes), (1, 1));
    assert_eq!(tokens(&flag.tokens), (1000, 200, 80, 8, 1080));
    assert_eq!(tokens(&claude.tokens), (500, 100, 40, 4, 540));
    let last = flag.last_attempt.expect("last attempt");
    assert_eq!(last.outcome, Outcome::Success);
    let finished: Vec<(Option<String>, String)> =
        w.sb.events()
            .into_iter()
            .filter_map(|e: Event| match e.body {
                Body::AttemptFinished(f) => Some((e.session, f.attempt)),
                _ => None,
            })
            .collect();
    assert_eq!(
        finished
            .iter()
            .map(|(s, _)| s.as_deref())
            .collect::<Vec<_>>(),
        [Some("flag-s"), Some("claude-s"), Some("flag-s")]
    );
    assert_eq!(last.attempt, finished[2].1);
    let totals = ledger.totals().unwrap();
    assert_eq!(tokens(&totals.tokens), (1500, 300, 120, 12, 1620));
}

#[test]
fn a_tool_call_round_trip_sums_the_tokens_of_the_turn() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(
        &codex,
        vec![
            Reply::tool_call(
                "exec_command",
                "call_1",
                json!({"cmd": "echo offload-tool-ok"}),
            )
            .usage(Usage {
                input: 300,
                cached: 100,
                output: 20,
                reasoning: 5,
            }),
            Reply::message("tool done").usage(Usage {
                input: 400,
                cached: 300,
                output: 30,
                reasoning: 6,
            }),
        ],
    );
    let mut cmd = w.offload();
    cmd.args(["run echo", "read-only", "."]);
    let done = run(cmd).expect_code(0);

    assert_eq!(done.stdout(), "tool done\n");
    assert!(
        done.stderr().contains("offload-tool-ok") && done.stderr().contains("(exit 0)"),
        "the command shows as progress:\n{}",
        done.stderr()
    );
    let f = w.only_finished();
    assert_eq!(f.outcome, Outcome::Success);
    assert_eq!(tokens(&f.tokens), (700, 400, 50, 11, 750));
    // The same numbers codex itself reported in its last turn.completed.
    let stream = read_jsonl(
        &w.sb
            .home()
            .join("runs")
            .join(&f.attempt)
            .join("stdout.jsonl"),
    );
    let completed = stream
        .iter()
        .rfind(|e| e["type"] == "turn.completed")
        .expect("turn.completed in the run folder");
    let u = &completed["usage"];
    assert_eq!(
        (
            u["input_tokens"].clone(),
            u["cached_input_tokens"].clone(),
            u["output_tokens"].clone(),
            u["reasoning_output_tokens"].clone()
        ),
        (json!(700), json!(400), json!(50), json!(11))
    );
    let turns = w.mock().responses_requests();
    assert_eq!(turns.len(), 2, "codex answered the tool call");
    let output: Value = turns[1].body["input"]
        .as_array()
        .expect("input items")
        .iter()
        .find(|i| i["type"] == "function_call_output" && i["call_id"] == "call_1")
        .cloned()
        .expect("a function_call_output for call_1");
    assert!(output.to_string().contains("offload-tool-ok"), "{output}");
}

/// `kill -9` of `offload run` while the real codex works (its server silent): codex and
/// everything it started are gone within the grace, and the next writer closes the attempt as
/// failed.
#[test]
fn a_sigkilled_offload_leaves_no_real_codex_behind() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(&codex, vec![Reply::hang_before_headers()]);
    let mut cmd = w.offload();
    cmd.args(["hello", "read-only", "."])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn offload");
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.mock().responses_requests().is_empty() {
        assert!(Instant::now() < deadline, "codex never asked the model");
        thread::sleep(Duration::from_millis(50));
    }
    let before = processes_mentioning(&w.marker());
    assert!(!before.is_empty(), "codex runs");
    child.kill().expect("SIGKILL offload");
    child.wait().expect("reap offload");
    let gone_by = Instant::now() + GRACE + Duration::from_secs(5);
    let mut left = processes_mentioning(&w.marker());
    while !left.is_empty() && Instant::now() < gone_by {
        thread::sleep(Duration::from_millis(100));
        left = processes_mentioning(&w.marker());
    }
    assert!(
        left.is_empty(),
        "still running after offload was killed: {left:?}"
    );
    // The next writer notices the runner died and closes its attempt, once.
    w.offload()
        .args(["again", "read-only", "."])
        .env("CODEX_TIMEOUT", "1")
        .output()
        .expect("run offload again");
    let closed: Vec<AttemptFinished> = w
        .finished()
        .into_iter()
        .filter(|f| {
            f.error
                .as_deref()
                .is_some_and(|e| e.contains("ended without recording a finish"))
        })
        .collect();
    assert_eq!(closed.len(), 1, "{:?}", w.finished());
}

/// The command the guard gives Claude, filled in as Claude fills it (the prompt inside the
/// single quotes, a quote inside written `'\''`), run by bash as Claude's Bash tool runs it,
/// with `offload` off `PATH`: the prompt reaches the real codex intact, backticks, `$VAR`,
/// `$(…)`, double and single quotes included, and the attempt succeeds.
#[test]
fn the_guards_command_carries_a_backtick_prompt_intact_to_codex() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(&codex, vec![Reply::message("done")]);
    let path = "/usr/bin:/bin";
    // The deny reason of an Edit of code, from the real hook.
    let mut hook = w.command(offload_bin().with_file_name("offload-hook"));
    hook.env("PATH", path)
        .env("CLAUDE_PROJECT_DIR", w.sb.work())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = hook.spawn().unwrap();
    {
        use std::io::Write;
        let input = json!({
            "session_id": "s-quote", "hook_event_name": "PreToolUse", "tool_name": "Edit",
            "cwd": w.sb.work(), "permission_mode": "default",
            "tool_input": {"file_path": w.sb.work().join("calc.py"), "old_string": "a", "new_string": "b"}
        });
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.to_string().as_bytes())
            .unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&String::from_utf8_lossy(&out.stdout)).unwrap_or_default();
    let reason = v["hookSpecificOutput"]["permissionDecisionReason"]
        .as_str()
        .map_or(text.clone(), str::to_owned);
    let placeholder = "'<goal and acceptance criteria; files; constraints; tests to run>'";
    let line = reason
        .lines()
        .map(str::trim)
        .find(|l| l.contains(placeholder))
        .unwrap_or_else(|| panic!("no command in the deny reason: {reason}"));
    let bin = offload_bin().display().to_string();
    assert!(
        line.starts_with(&format!("{bin} run --work-type code ")),
        "offload is off PATH, so the command names it by path: {line}"
    );
    let prompt =
        r#"Make `calc.py` add() return a+b; keep "$HOME", $(touch pwned) and it's literal."#;
    let filled = line.replace(placeholder, &shared::shell::single_quote(prompt));
    let mut cmd = w.command("bash");
    cmd.args(["-c", &filled]).env("PATH", path);
    let done = run(cmd).expect_code(0);
    assert!(
        !w.sb.work().join("pwned").exists(),
        "nothing in the prompt ran"
    );
    fn holds(v: &Value, needle: &str) -> bool {
        match v {
            Value::String(s) => s.contains(needle),
            Value::Array(a) => a.iter().any(|x| holds(x, needle)),
            Value::Object(o) => o.values().any(|x| holds(x, needle)),
            _ => false,
        }
    }
    let requests = w.mock().responses_requests();
    assert!(
        requests.iter().any(|r| holds(&r.body, prompt)),
        "the prompt arrived intact: {:?}\n{}",
        w.request_texts(),
        done.stderr()
    );
    let f = w.only_finished();
    assert_eq!(f.outcome, Outcome::Success);
    assert_eq!(f.sandbox, "workspace-write");
}

// ---------------------------------------------------------------------------------------------
// The models the real codex knows

/// The real codex's catalog reads, and lacks offload's default models: the doctor's `models`
/// warning and the summary line's note are about the codex users have, not a hypothesis.
#[test]
fn the_real_catalog_parses_and_lacks_the_default_models() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    use shared::codex::catalog;
    let dir = tempfile::tempdir().unwrap();
    let codex_home = dir.path().join("codex");
    fs::create_dir_all(&codex_home).unwrap();
    let c = catalog::fetch(&codex, Some(&codex_home), Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the real catalog: {e}"));
    let version = c.version.clone().expect("codex --version");
    assert!(c.models.len() >= 5, "{c:?}");
    let defaults = shared::config::RunnerConfig::default();
    for m in [&defaults.model_code, &defaults.model_logic, &defaults.model] {
        assert!(
            !c.knows(m),
            "codex {version} knows {m}: the defaults could be kept"
        );
    }
    assert!(c.knows("gpt-5.5"), "0.169.0 and 0.171.0 both list gpt-5.5");
    let offered = c.candidates();
    assert!(!offered.is_empty());
    assert!(
        offered
            .iter()
            .all(|m| m.listed() && !m.description.is_empty())
    );
    assert!(
        offered
            .windows(2)
            .all(|w| w[0].priority.unwrap_or(i64::MAX) <= w[1].priority.unwrap_or(i64::MAX)),
        "in codex's order"
    );
    for m in &c.models {
        if let Some(to) = &m.upgrade {
            assert!(
                c.knows(to),
                "{} upgrades to {to}, which is not in the catalog",
                m.slug
            );
        }
    }

    // The doctor says so, with what this codex offers and the command that switches.
    let state = dir.path().join("offload");
    fs::create_dir_all(&state).unwrap();
    let out = Run::new(offload_bin())
        .args(["doctor", "--json"])
        .env("CODEX_BIN", &codex)
        .env("CODEX_HOME", &codex_home)
        .env("OFFLOAD_HOME", &state)
        .env("HOME", dir.path())
        .env("OFFLOAD_CLAUDE_BIN", dir.path().join("no-claude"))
        .current_dir(dir.path())
        .output();
    let v: Value = serde_json::from_str(&out.stdout())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", out.stdout(), out.stderr()));
    let check = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "models")
        .unwrap_or_else(|| panic!("no models check: {v}"))
        .clone();
    assert_eq!(check["status"], "warn", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(&format!(
            "gpt-5.3-codex (code, explore, review) and gpt-5.4 (analysis, default) are not in \
             codex {version}'s catalog: codex runs them on fallback metadata"
        )) && detail.contains(&format!("it offers {} (", offered[0].slug)),
        "{detail}"
    );
    // By name, or by its path when the test's PATH does not find it.
    let hint = check["hint"].as_str().unwrap();
    assert!(
        hint.ends_with(&format!(
            "offload setup --code-model {0} --logic-model {0}",
            offered[0].slug
        )),
        "{hint}"
    );
    // It left the catalog for `offload run`.
    assert!(state.join("codex-models.json").is_file());
}

/// A run of a model the real codex does not know names it in the summary line; one it knows
/// does not.
#[test]
fn a_run_of_a_model_the_real_codex_does_not_know_says_so() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(
        &codex,
        vec![Reply::message("first"), Reply::message("second")],
    );
    let mut cmd = w.offload();
    cmd.args(["say hi", "read-only", ".", "--json"]);
    let done = run(cmd).expect_code(0);
    let v: Value = serde_json::from_str(&done.stdout()).unwrap();
    assert_eq!(v["model"], "gpt-5.4");
    assert_eq!(v["model_in_catalog"], false, "{v}");
    let note = v["model_note"].as_str().unwrap();
    assert!(
        note.starts_with("not in codex ") && note.ends_with("'s catalog: fallback metadata"),
        "{note}"
    );
    assert!(
        summary_line(&done).starts_with(&format!("offload: ✓ success · gpt-5.4 ({note}) · ")),
        "{}",
        done.stderr()
    );
    let mut cmd = w.offload();
    cmd.args(["say hi", "read-only", ".", "-m", "gpt-5.5"]);
    let done = run(cmd).expect_code(0);
    assert!(
        summary_line(&done).starts_with("offload: ✓ success · gpt-5.5 · read-only · "),
        "{}",
        done.stderr()
    );
}

/// The texts of the `message` items of a model request's `input`, as (role, text).
fn conversation(request: &Value) -> Vec<(String, String)> {
    request["input"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|item| item["type"] == "message")
        .flat_map(|item| {
            let role = item["role"].as_str().unwrap_or("").to_string();
            item["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str())
                .map(move |text| (role.clone(), text.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn resume_last_continues_the_thread_and_records_the_turns_own_tokens() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(
        &codex,
        vec![
            Reply::message("first answer").usage(Usage {
                input: 1000,
                cached: 200,
                output: 50,
                reasoning: 5,
            }),
            Reply::message("second answer").usage(Usage {
                input: 1500,
                cached: 1000,
                output: 30,
                reasoning: 3,
            }),
        ],
    );
    let sub = w.sb.work().join("sub");
    fs::create_dir_all(&sub).unwrap();
    let mut cmd = w.offload();
    cmd.args(["explore the repository", "read-only", "."])
        .env("CLAUDE_CODE_SESSION_ID", "s");
    run(cmd).expect_code(0);
    let first = w.only_finished();
    let thread = first.thread_id.clone().expect("thread id");
    assert_eq!(tokens(&first.tokens), (1000, 200, 50, 5, 1050));

    let mut cmd = w.offload();
    cmd.args(["--resume", "last", "now fix the failing test", "--json"])
        .args(["workspace-write", "sub"])
        .env("CLAUDE_CODE_SESSION_ID", "s");
    let done = run(cmd).expect_code(0);

    // The second request carries the first turn: the same thread, not a new one.
    let requests = w.mock().responses_requests();
    assert_eq!(
        requests.len(),
        2,
        "no compaction: the thread kept its model"
    );
    let said = conversation(&requests[1].body);
    let at = |role: &str, text: &str| {
        said.iter()
            .position(|(r, t)| r == role && t == text)
            .unwrap_or_else(|| panic!("no {role} {text:?} in the second request: {said:?}"))
    };
    assert!(
        at("user", "explore the repository") < at("assistant", "first answer")
            && at("assistant", "first answer") < at("user", "now fix the failing test"),
        "{said:?}"
    );
    // In the folder and sandbox of the second run.
    let context = said
        .iter()
        .rev()
        .find(|(r, t)| r == "user" && t.contains("<environment_context>"))
        .map(|(_, t)| t.clone())
        .unwrap();
    assert!(
        context.contains(&format!("<cwd>{}</cwd>", sub.display())),
        "{context}"
    );
    let text = requests[1].body.to_string();
    assert!(
        text.contains("`sandbox_mode` is `workspace-write`"),
        "the new sandbox applies"
    );
    assert_eq!(requests[1].body["model"], "gpt-5.4");

    // codex reports the thread's total (2500/1200/80/8); offload records the turn's own, the
    // difference from the rollout's total before the run (1000/200/50/5).
    let second = &w.finished()[1];
    let stdout: Value = serde_json::from_str(done.stdout().trim()).expect("--json result");
    assert_eq!(stdout["answer"], "second answer");
    assert_eq!(stdout["thread_id"], thread.as_str());
    assert_eq!(
        stdout["resume"],
        json!({"thread_id": thread,
               "tokens_before": {"input": 1000, "cached_input": 200, "output": 50,
                                 "reasoning": 5, "total": 1050},
               "tokens_before_from": "rollout",
               "tokens_reported": {"input": 2500, "cached_input": 1200, "output": 80,
                                   "reasoning": 8, "total": 2580}})
    );
    assert_eq!(tokens(&second.tokens), (1500, 1000, 30, 3, 1530));
    assert_eq!(stdout["tokens"]["total"], 1530);
    assert_eq!(second.resumed_from.as_deref(), Some(thread.as_str()));
    assert_eq!(second.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(
        (second.sandbox.as_str(), second.cwd.as_str()),
        ("workspace-write", sub.to_str().unwrap())
    );
    let codex_said = fs::read_to_string(
        w.sb.home()
            .join("runs")
            .join(&second.attempt)
            .join("stdout.jsonl"),
    )
    .unwrap();
    let started: Value = serde_json::from_str(codex_said.lines().next().unwrap()).unwrap();
    assert_eq!(started["type"], "thread.started");
    assert_eq!(started["thread_id"], thread.as_str(), "codex's own word");
    let line = summary_line(&done);
    assert!(
        line.contains("tokens 1.5k (in 1.5k, cached 1k, out 30, reasoning 3)")
            && line.contains(&format!(" · continued thread {thread} · exit 0")),
        "{line}"
    );
    assert_eq!(w.home.rollouts().len(), 1, "one thread, one rollout");
    // What the statusline and `offload stats` add up is codex's own total for the thread.
    let ledger = w.sb.ledger();
    assert_eq!(
        tokens(&ledger.totals().unwrap().tokens),
        (2500, 1200, 80, 8, 2580)
    );
    assert_eq!(
        tokens(&ledger.session("s").unwrap().tokens),
        (2500, 1200, 80, 8, 2580)
    );
}

#[test]
fn resuming_a_thread_the_real_codex_does_not_have_fails_naming_it() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(&codex, vec![]);
    let unknown = "01a22949-b252-7403-8c20-000000000000";
    let mut cmd = w.offload();
    cmd.args(["--resume", unknown, "go on", "read-only", "--fail-closed=0"]);
    let done = run(cmd).expect_code(12);

    let f = w.only_finished();
    assert_eq!(f.outcome, Outcome::Failed);
    assert_eq!(f.resumed_from.as_deref(), Some(unknown));
    let error = f.error.unwrap_or_default();
    assert!(
        error.starts_with("codex exited 1: Error: thread/resume")
            && error.contains(&format!("no rollout found for thread id {unknown}")),
        "{error}"
    );
    assert!(w.mock().responses_requests().is_empty(), "no model request");
    assert!(summary_line(&done).contains(&format!("continued thread {unknown}")));
}

/// `git diff | offload run -` with a diff over Linux's 128 KiB for one argument: the real codex
/// gets the prompt on its stdin, whole, for a new thread and a resumed one.
#[test]
fn a_prompt_longer_than_one_argument_may_be_reaches_the_model_whole() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(
        &codex,
        vec![Reply::message("first"), Reply::message("second")],
    );
    let big = |tag: &str| format!("{}{tag}\n", "summarise this line\n".repeat(10_000));
    let piped = |prompt: &str, extra: &[&str]| {
        let file = w.sb.file("prompt.in");
        fs::write(&file, prompt).unwrap();
        let mut cmd = w.command("sh");
        cmd.args(["-c", "f=$1; shift; exec \"$@\" < \"$f\"", "sh"])
            .arg(&file)
            .arg(offload_bin())
            .arg("run")
            .args(extra)
            .args(["-", "read-only", "."]);
        run(cmd).expect_code(0)
    };
    let (first, second) = (big("the first end"), big("the second end"));
    assert!(first.len() > 128 << 10);
    piped(&first, &[]);
    let thread = w.only_finished().thread_id.expect("thread id");
    piped(&second, &["--resume", &thread]);

    let requests = w.mock().responses_requests();
    assert_eq!(requests.len(), 2);
    let users = |n: usize| -> Vec<String> {
        conversation(&requests[n].body)
            .into_iter()
            .filter(|(role, _)| role == "user")
            .map(|(_, text)| text)
            .collect()
    };
    assert!(users(0).contains(&first), "the first prompt, whole");
    assert!(
        users(1).contains(&first) && users(1).contains(&second),
        "the thread, then the second prompt, whole"
    );
    for f in w.finished() {
        assert_eq!(f.outcome, Outcome::Success, "{f:?}");
    }
}

/// A `config.toml` codex cannot read: the attempt's error is codex's own, with the file, line
/// and reason it gives on the next line, not the `^` under the quoted line that ends its
/// stderr; and the same with a backtrace after the error (`RUST_BACKTRACE=1`).
#[test]
fn a_broken_codex_config_is_named_in_the_attempts_error() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let w = World::new(&codex, vec![]);
    let config = w.home.path().join("config.toml");
    let good = fs::read_to_string(&config).unwrap();
    fs::write(&config, good.replace("name = \"Mock\"", "name = \"Mock")).unwrap();
    let mut cmd = w.offload();
    cmd.args(["hi", "read-only", "--fail-closed=0"]);
    run(cmd).expect_code(12);
    let error = w.only_finished().error.unwrap_or_default();
    let want = format!(
        "codex exited 1: Error loading config.toml: {}:",
        config.display()
    );
    assert!(
        error.starts_with(&want) && error.contains(": invalid basic string"),
        "{error}"
    );

    fs::write(&config, good).unwrap();
    let unknown = "01a22949-b252-7403-8c20-000000000000";
    let mut cmd = w.offload();
    cmd.args(["--resume", unknown, "go on", "--fail-closed=0"])
        .env("RUST_BACKTRACE", "1");
    run(cmd).expect_code(12);
    let error = w.finished()[1].error.clone().unwrap_or_default();
    assert!(
        error.starts_with("codex exited 1: Error: thread/resume")
            && error.ends_with("(code -32600)"),
        "{error}"
    );
}
