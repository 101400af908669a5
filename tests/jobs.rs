//! Background jobs end to end with the REAL Codex CLI (`.tools/bin/codex`) against the mock
//! Responses API: `offload run --background` returns at once, `offload jobs` shows the job,
//! `offload wait` returns "still running" (75) or the answer and the run's exit code,
//! `offload cancel` ends codex and everything it started and records `cancelled`, and a job
//! whose runner is SIGKILLed shows `lost`, closed in the ledger once. Without the real codex
//! these tests skip (and fail on CI).
//!
//! Each test has its own mock, `CODEX_HOME` and `OFFLOAD_HOME`, so they run in parallel; the
//! slow one (a reply after 150 s, the length of a real task) waits while the others run.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use offload_testkit::codex::{CodexHome, require_real_codex};
use offload_testkit::responses::{MockResponses, Reply};
use serde_json::Value;
use shared::ledger::{Body, Event};
use shared::outcome::Outcome;
use support::{Done, Run, Sandbox, alive_after, offload_bin};

/// A job world: the real codex, a mock with a script, a `CODEX_HOME` for it, a state folder.
struct World {
    codex: PathBuf,
    mock: MockResponses,
    home: CodexHome,
    sb: Sandbox,
}

impl World {
    fn new(script: Vec<Reply>) -> Option<World> {
        let codex = require_real_codex()?;
        let mock = MockResponses::with_script(script).expect("start the mock");
        let home = CodexHome::new(&mock.base_url());
        Some(World {
            codex,
            mock,
            home,
            sb: Sandbox::new(),
        })
    }

    /// `offload <args>` in this world, as Claude's Bash tool would run it in a session.
    fn offload(&self, args: &[&str]) -> Done {
        let mut run = Run::new(offload_bin()).args(args);
        for (k, v) in self.home.envs() {
            run = run.env(&k, v);
        }
        run.env("OFFLOAD_HOME", self.sb.home())
            .env("CODEX_BIN", &self.codex)
            .env("CLAUDE_CODE_SESSION_ID", "s-jobs")
            .current_dir(self.sb.work())
            .output()
    }

    fn events(&self) -> Vec<Event> {
        self.sb.events()
    }

    fn finished(&self) -> Vec<(String, Outcome)> {
        self.events()
            .into_iter()
            .filter_map(|e| match e.body {
                Body::AttemptFinished(f) => Some((f.attempt, f.outcome)),
                _ => None,
            })
            .collect()
    }

    fn job(&self, id: &str) -> Value {
        let v: Value =
            serde_json::from_str(&self.offload(&["jobs", "--json"]).expect_code(0).stdout())
                .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no job {id} in {v}"))
    }
}

/// The job id `offload run --background` printed.
fn job_id(started: &Done) -> String {
    let out = started.stdout();
    out.split_whitespace()
        .skip_while(|w| *w != "job")
        .nth(1)
        .unwrap_or_else(|| panic!("no job id in {out}"))
        .to_owned()
}

/// Every process below `pid` (children, theirs, …) now.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parent_of: Vec<(u32, u32)> = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{p}/stat")) else {
            continue;
        };
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        if let Some(ppid) = rest.split_whitespace().nth(1).and_then(|s| s.parse().ok()) {
            parent_of.push((p, ppid));
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

fn job_file(w: &World, id: &str) -> Value {
    let text = std::fs::read_to_string(w.sb.home().join("jobs").join(id).join("job.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Wait until `cond` holds, at most `limit`.
fn until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A real task's length: the reply comes after 150 s. The start returns at once, the job
/// runs, a short wait says "still running" with the command to wait again, a full wait gives
/// the answer and exit 0, and `result` prints it again.
#[test]
fn a_long_job_runs_in_the_background_and_wait_gives_its_answer() {
    let Some(w) = World::new(vec![
        Reply::message("the long answer").after(Duration::from_secs(150)),
    ]) else {
        return;
    };
    let t = Instant::now();
    let started = w
        .offload(&["run", "--background", "a long task", "read-only", "."])
        .expect_code(0);
    let took = t.elapsed();
    assert!(took < Duration::from_secs(1), "returned in {took:?}");
    let id = job_id(&started);
    assert!(
        started.stdout().contains(&format!("wait {id}")),
        "{}",
        started.stdout()
    );
    assert_eq!(w.job(&id)["state"], "running");

    let short = w.offload(&["wait", &id, "--timeout", "5s"]).expect_code(75);
    assert!(
        short.stderr().contains("is still running")
            && short.stderr().contains(&format!("wait {id}")),
        "{}",
        short.stderr()
    );
    assert_eq!(short.stdout(), "");
    w.offload(&["result", &id]).expect_code(75);

    let done = w
        .offload(&["wait", "--last", "--timeout", "4m"])
        .expect_code(0);
    assert_eq!(done.stdout(), "the long answer\n");
    let summary = done.stderr().lines().last().unwrap_or_default().to_owned();
    assert!(
        summary.starts_with("offload: ✓ success · ") && summary.ends_with("exit 0"),
        "{summary}"
    );
    // Recorded under the session that started it.
    assert!(
        w.events()
            .iter()
            .filter(|e| matches!(e.body, Body::AttemptStarted(_)))
            .all(|e| e.session.as_deref() == Some("s-jobs")),
        "{:?}",
        w.events()
    );
    let again = w.offload(&["result", &id]).expect_code(0);
    assert_eq!(again.stdout(), "the long answer\n");
    assert_eq!(again.stderr().trim_end(), summary);
    let job = w.job(&id);
    assert_eq!(job["state"], "success", "{job}");
    assert!(job["tokens"].as_u64().unwrap() > 0, "{job}");
    let finished = w.finished();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert_eq!(finished[0].1, Outcome::Success);
    assert_eq!(w.mock.responses_requests().len(), 1);
}

/// A job whose server never answers: `cancel --last` ends its runner, codex and everything
/// below them (checked by pid), and records `cancelled`; the job then shows `cancelled`.
#[test]
fn cancel_ends_the_job_and_everything_it_started() {
    let Some(w) = World::new(vec![Reply::hang_after_headers()]) else {
        return;
    };
    let id = job_id(
        &w.offload(&["run", "--background", "never answered", "."])
            .expect_code(0),
    );
    let runner = job_file(&w, &id)["pid"].as_u64().unwrap() as u32;
    until(Duration::from_secs(30), "codex's request", || {
        !w.mock.responses_requests().is_empty()
    });
    let below = descendants(runner);
    assert!(
        below.len() >= 2,
        "the reaper and codex run below the runner: {below:?}"
    );
    let cancel = w.offload(&["cancel", "--last"]).expect_code(0);
    assert!(
        cancel.stdout().contains(&format!("job {id} cancelled")),
        "{}",
        cancel.stdout()
    );
    for pid in std::iter::once(runner).chain(below) {
        assert!(!alive_after(pid, 5000), "pid {pid} outlived the cancel");
    }
    assert_eq!(w.job(&id)["state"], "cancelled");
    let finished = w.finished();
    assert_eq!(finished.len(), 1, "{finished:?}");
    assert_eq!(finished[0].1, Outcome::Cancelled);
    // A second cancel finds nothing running.
    let again = w.offload(&["cancel", &id]).expect_code(0);
    assert!(
        again.stdout().contains("is not running"),
        "{}",
        again.stdout()
    );
}

/// A job whose runner is SIGKILLed (the machine's OOM killer, a user's kill -9): `jobs` shows
/// it `lost`, its attempt is closed in the ledger once (as failed), `wait` says so and exits as
/// a failed run, and codex does not outlive its runner.
#[test]
fn a_job_whose_runner_is_killed_is_lost_once() {
    let Some(w) = World::new(vec![Reply::hang_after_headers()]) else {
        return;
    };
    let id = job_id(
        &w.offload(&["run", "--background", "killed", "."])
            .expect_code(0),
    );
    let runner = job_file(&w, &id)["pid"].as_u64().unwrap() as u32;
    until(Duration::from_secs(30), "codex's request", || {
        !w.mock.responses_requests().is_empty()
    });
    let below = descendants(runner);
    // SAFETY: the job's runner, started by this test through offload.
    unsafe {
        libc::kill(runner as i32, libc::SIGKILL);
    }
    until(Duration::from_secs(10), "the runner to go", || {
        w.job(&id)["state"] == "lost"
    });
    for _ in 0..3 {
        assert_eq!(w.job(&id)["state"], "lost");
    }
    let waited = w.offload(&["wait", &id]).expect_code(20);
    assert!(waited.stderr().contains("was lost"), "{}", waited.stderr());
    let finished = w.finished();
    assert_eq!(finished.len(), 1, "closed once: {finished:?}");
    assert_eq!(finished[0].1, Outcome::Failed);
    for pid in below {
        assert!(!alive_after(pid, 10_000), "pid {pid} outlived its runner");
    }
}

/// Scoping: `--last` and `jobs` see this session's jobs only; another session's job is named
/// by id or listed with --all, never cancelled by `--last`.
#[test]
fn another_sessions_job_is_not_touched_by_last() {
    let Some(w) = World::new(vec![Reply::hang_after_headers()]) else {
        return;
    };
    let mut run = Run::new(offload_bin()).args(["run", "--background", "theirs", "."]);
    for (k, v) in w.home.envs() {
        run = run.env(&k, v);
    }
    let theirs = run
        .env("OFFLOAD_HOME", w.sb.home())
        .env("CODEX_BIN", &w.codex)
        .env("CLAUDE_CODE_SESSION_ID", "s-other")
        .current_dir(w.sb.work())
        .output()
        .expect_code(0);
    let id = job_id(&theirs);
    let mine: Value =
        serde_json::from_str(&w.offload(&["jobs", "--json"]).expect_code(0).stdout()).unwrap();
    assert_eq!(mine, Value::Array(vec![]), "not this session's");
    let all: Value = serde_json::from_str(
        &w.offload(&["jobs", "--all", "--json"])
            .expect_code(0)
            .stdout(),
    )
    .unwrap();
    assert_eq!(all[0]["id"], id.as_str());
    let no = w.offload(&["cancel", "--last"]).expect_code(1);
    assert!(
        no.stderr().contains("no job of this session"),
        "{}",
        no.stderr()
    );
    assert_eq!(w.job_all(&id)["state"], "running");
    w.offload(&["cancel", &id]).expect_code(0);
    assert_eq!(w.job_all(&id)["state"], "cancelled");
}

impl World {
    fn job_all(&self, id: &str) -> Value {
        let v: Value = serde_json::from_str(
            &self
                .offload(&["jobs", "--all", "--json"])
                .expect_code(0)
                .stdout(),
        )
        .unwrap();
        v.as_array()
            .unwrap()
            .iter()
            .find(|j| j["id"] == id)
            .cloned()
            .unwrap()
    }
}

/// Bad names: a clear usage error, nothing else.
#[test]
fn bad_job_names_are_refused() {
    let sb = Sandbox::new();
    let run = |args: &[&str]| {
        Run::new(offload_bin())
            .args(args)
            .env("OFFLOAD_HOME", sb.home())
            .current_dir(sb.work())
            .output()
    };
    assert!(
        run(&["wait", "../x"])
            .expect_code(2)
            .stderr()
            .contains("is not a job id")
    );
    assert!(run(&["cancel"]).expect_code(2).stderr().contains("--last"));
    assert!(
        run(&["result", "nope-1"])
            .expect_code(1)
            .stderr()
            .contains("no job nope-1")
    );
    assert!(
        run(&["wait", "--last", "--timeout", "1e20"])
            .expect_code(2)
            .stderr()
            .contains("--timeout")
    );
    let listed = run(&["jobs"]).expect_code(0).stdout();
    assert!(listed.starts_with("No jobs"), "{listed}");
}

/// A job file that names a process which is not its runner (forged, or left from another
/// machine state) is never taken for a running job, and `cancel` signals nothing; outside a
/// session the jobs of projects below the current folder are not this project's; a crowd of
/// other folders does not hide a job.
#[test]
fn forged_and_foreign_job_files_touch_nothing() {
    let sb = Sandbox::new();
    let run = |args: &[&str], cwd: &std::path::Path| {
        Run::new(offload_bin())
            .args(args)
            .env("OFFLOAD_HOME", sb.home())
            .env("CODEX_BIN", support::fake_codex())
            .env("FAKE_CODEX_MODE", "hang")
            .current_dir(cwd)
            .output()
    };
    let mut victim = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    let pid = victim.id();
    let start = shared::process::start_time(pid).unwrap();
    let id = "1129-000020-aaaa";
    let dir = sb.home().join("jobs").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("job.json"),
        serde_json::json!({
            "id": id, "created": "2026-11-29T00:00:20Z", "cwd": sb.work(), "models": ["m"],
            "sandbox": "workspace-write", "prompt": "forged", "pid": pid, "pid_start": start
        })
        .to_string(),
    )
    .unwrap();
    for _ in 0..2500 {
        let n = std::fs::read_dir(sb.home().join("jobs")).unwrap().count();
        std::fs::create_dir_all(sb.home().join("jobs").join(format!("junk-{n}"))).unwrap();
    }
    let listed: Value =
        serde_json::from_str(&run(&["jobs", "--json"], &sb.work()).expect_code(0).stdout())
            .unwrap();
    assert_eq!(listed[0]["id"], id, "{listed}");
    assert_eq!(listed[0]["state"], "lost", "not its runner: {listed}");
    let out = run(&["cancel", id], &sb.work()).expect_code(0);
    assert!(out.stdout().contains("is not running"), "{}", out.stdout());
    assert!(
        alive_after(pid, 0) && victim.try_wait().unwrap().is_none(),
        "signalled nothing"
    );
    victim.kill().unwrap();
    victim.wait().unwrap();

    // A real job in a project below the current folder: not this folder's outside a session.
    let below = sb.work().join("sub");
    std::fs::create_dir_all(&below).unwrap();
    let started = run(&["run", "--background", "hang", "read-only", "."], &below).expect_code(0);
    let job = job_id(&started);
    let mine: Value =
        serde_json::from_str(&run(&["jobs", "--json"], &sb.work()).expect_code(0).stdout())
            .unwrap();
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .all(|j| j["id"] != job.as_str()),
        "{mine}"
    );
    run(&["cancel", "--last"], &sb.work());
    let all: Value = serde_json::from_str(
        &run(&["jobs", "--all", "--json"], &sb.work())
            .expect_code(0)
            .stdout(),
    )
    .unwrap();
    let j = all
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == job.as_str())
        .unwrap();
    assert_eq!(
        j["state"], "running",
        "--last from above did not cancel it: {all}"
    );
    run(&["cancel", "--last"], &below).expect_code(0);
}
