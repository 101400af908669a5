//! Background jobs: `offload run --background`, `offload jobs`, `wait`, `result`, `cancel`.
//!
//! A job is one `offload run` started detached from the calling shell: its own session and
//! process group (`setsid`), stdin the prompt, stdout and stderr into files. It survives the
//! Bash tool's timeout, the Claude Code session ending and the terminal closing, and it is an
//! ordinary run: its attempts are recorded in the ledger, counted, and guard like any (while
//! it runs, the guard tells Claude that Codex is still working).
//!
//! Everything about a job is in `jobs/<id>/` in the state folder:
//!
//! | file | written by | |
//! |---|---|---|
//! | `job.json` | the starter | id, session, project, models, sandbox, the prompt's first words, the runner's pid and start time |
//! | `prompt` | the starter | the prompt (the runner's stdin) |
//! | `out`, `err` | the runner | what `offload run` printed: the answer, the progress and summary line |
//! | `result.json` | the runner | `offload run --json`'s result, at the end |
//! | `exit` | the runner | its exit code, last: a job with it is finished |
//! | `cancel` | `offload cancel` | the stop was asked for: the runner records `cancelled` |
//!
//! A job without `exit` whose runner is gone (same pid, other start time, or none) is `lost`:
//! its attempt is closed in the ledger once, as a run that died (see `shared::running`), and it
//! is never shown as running again.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use shared::env;
use shared::fsutil::{create_private_dir, read_regular, read_regular_text, write_atomic};
use shared::ledger::Ledger;
use shared::outcome::{Outcome, exit};
use shared::paths::Paths;
use shared::shell::{quote, this_offload};

use crate::Error;
use crate::cli::{JobArgs, JobsArgs, RunArgs, WaitArgs};
use crate::run::Plan;

/// `offload wait`'s default: under the Bash tool's 10-minute maximum, so a wait given that
/// timeout always comes back by itself.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(9 * 60);
/// How long `cancel` gives the runner to end codex and record the stop before it is killed.
const CANCEL_WAIT: Duration = Duration::from_secs(15);
/// How often `wait` looks.
const POLL: Duration = Duration::from_millis(200);
/// Finished jobs kept (their folders); older ones go when a job starts.
const KEEP: usize = 200;

/// `jobs/<id>/job.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JobFile {
    pub id: String,
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub session: Option<String>,
    /// The folder Codex works in.
    pub cwd: String,
    pub models: Vec<String>,
    pub sandbox: String,
    #[serde(default)]
    pub work_type: Option<String>,
    /// The prompt's first words.
    pub prompt: String,
    pub pid: u32,
    pub pid_start: u64,
    #[serde(default = "yes")]
    pub fail_closed: bool,
    /// What the Claude Code above the starter started with (see `offload run`'s check of which
    /// codex an attempt ran); none outside Claude Code.
    #[serde(default)]
    pub claude: Option<shared::claude_marker::ClaudeView>,
}

fn yes() -> bool {
    true
}

/// Where a job stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Running,
    /// Finished: the exit code, and the outcome when its result is readable.
    Done(u8, Option<Outcome>),
    /// The runner is gone without a finish.
    Lost,
}

impl State {
    fn name(&self) -> String {
        match self {
            State::Running => "running".into(),
            State::Done(_, Some(o)) => o.as_str().into(),
            State::Done(code, None) => format!("exit {code}"),
            State::Lost => "lost".into(),
        }
    }
}

/// One job as read from its folder.
pub struct Job {
    pub file: JobFile,
    pub dir: PathBuf,
}

fn jobs_dir(paths: &Paths) -> PathBuf {
    paths.state_dir.join("jobs")
}

impl Job {
    fn read(dir: &Path) -> Option<Job> {
        let bytes = read_regular(&dir.join("job.json"), 64 << 10).ok()??;
        let file: JobFile = serde_json::from_slice(&bytes).ok()?;
        Some(Job {
            file,
            dir: dir.to_path_buf(),
        })
    }

    /// Whether its runner still runs: the same process (pid and start time, not a zombie), and
    /// that process is this job's runner (started with `OFFLOAD_JOB=<id>`), so a job file that
    /// names another process is never taken for a running job (nor signalled by `cancel`).
    fn alive(&self) -> bool {
        shared::process::runs(self.file.pid, self.file.pid_start) && self.is_runner()
    }

    fn is_runner(&self) -> bool {
        use std::io::Read;
        let Ok(f) = std::fs::File::open(format!("/proc/{}/environ", self.file.pid)) else {
            return false;
        };
        let mut environ = Vec::new();
        if f.take(1 << 20).read_to_end(&mut environ).is_err() {
            return false;
        }
        let want = format!("{}={}", env::OFFLOAD_JOB, self.file.id);
        environ.split(|b| *b == 0).any(|e| e == want.as_bytes())
    }

    fn exit_code(&self) -> Option<u8> {
        read_regular_text(&self.dir.join("exit"), 64)?
            .trim()
            .parse()
            .ok()
    }

    fn result(&self) -> Option<Value> {
        let bytes = read_regular(&self.dir.join("result.json"), 4 << 20).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    /// Where it stands now. A runner that is gone without its `exit` is lost (looked at twice:
    /// it may have written `exit` just before it ended).
    pub fn state(&self) -> State {
        let done = |j: &Job| {
            j.exit_code().map(|code| {
                let outcome = j
                    .result()
                    .and_then(|r| serde_json::from_value(r["outcome"].clone()).ok());
                State::Done(code, outcome)
            })
        };
        if let Some(s) = done(self) {
            return s;
        }
        if self.alive() {
            return State::Running;
        }
        done(self).unwrap_or(State::Lost)
    }

    fn output(&self, name: &str) -> String {
        read_regular_text(&self.dir.join(name), 64 << 20).unwrap_or_default()
    }

    fn elapsed(&self) -> Duration {
        let end = match self.state() {
            State::Running | State::Lost => Utc::now(),
            State::Done(..) => std::fs::metadata(self.dir.join("exit"))
                .and_then(|m| m.modified())
                .map(DateTime::<Utc>::from)
                .unwrap_or_else(|_| Utc::now()),
        };
        (end - self.file.created).to_std().unwrap_or_default()
    }

    /// Close the attempts of a lost job in the ledger (once: whoever claims a dead run's marker
    /// closes it), as runs that died; or, after `cancel` killed the runner, as cancelled.
    fn close_attempts(&self, ledger: &Ledger, outcome: Outcome, why: &str) {
        for r in shared::running::list(&ledger.paths().state_dir) {
            if r.pid == self.file.pid
                && r.pid_start == self.file.pid_start
                && r.claim_if_dead(&ledger.paths().state_dir)
            {
                let _ = ledger.append(&[r.ended(outcome, why)]);
            }
        }
    }
}

/// Every job, newest first: the newest 2000 folders named like a job id (ids begin with the
/// time they were made; other entries are passed over, however many there are).
fn all_jobs(paths: &Paths) -> Vec<Job> {
    let mut names: Vec<String> = std::fs::read_dir(jobs_dir(paths))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_job_id(n))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    names.truncate(2000);
    let dir = jobs_dir(paths);
    let mut jobs: Vec<Job> = names
        .iter()
        .filter_map(|n| Job::read(&dir.join(n)))
        .filter(|j| is_job_id(&j.file.id) && j.dir.ends_with(&j.file.id))
        .collect();
    jobs.sort_by_key(|j| std::cmp::Reverse(j.file.created));
    jobs
}

/// `MMDD-HHMMSS-xxxx` (see [`new_id`]).
fn is_job_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 16
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 11 => *c == b'-',
            0..=10 => c.is_ascii_digit(),
            _ => c.is_ascii_hexdigit(),
        })
}

/// The session the commands are run for: Claude Code's, else the one offload's SessionStart
/// hook exported.
fn this_session() -> Option<String> {
    env::var(env::CLAUDE_CODE_SESSION_ID).or_else(|| env::var(env::OFFLOAD_SESSION_ID))
}

/// Whether a job is this caller's: of its session when it has one, else of the project it is
/// in (the job's folder and the current one inside one another).
fn in_scope(job: &Job, session: Option<&str>, cwd: &Path) -> bool {
    match session {
        Some(s) => job.file.session.as_deref() == Some(s),
        // Outside a session: the jobs of the project this folder is in (the job's folder, or
        // one above this one), never every project below it.
        None => cwd.starts_with(Path::new(&job.file.cwd)),
    }
}

fn paths() -> Result<Paths, Error> {
    Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))
}

fn cwd() -> Result<PathBuf, Error> {
    std::env::current_dir()
        .map_err(|e| Error::with_code(format!("cannot read the current folder: {e}"), 1))
}

/// The job a command names: by id (any job), or `--last` (the newest of this session or
/// project, running ones first when `running_first`).
fn pick(args: &JobArgs, running_first: bool) -> Result<Job, Error> {
    let paths = paths()?;
    if let Some(id) = &args.id {
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::usage(format!("{id:?} is not a job id")));
        }
        return Job::read(&jobs_dir(&paths).join(id))
            .filter(|j| j.file.id == *id)
            .ok_or_else(|| {
                Error::with_code(
                    format!("no job {id} (`{} jobs --all` lists them)", this_offload()),
                    1,
                )
            });
    }
    if !args.last {
        return Err(Error::usage("name a job: its id, or --last"));
    }
    let session = this_session();
    let cwd = cwd()?;
    let mut mine: Vec<Job> = all_jobs(&paths)
        .into_iter()
        .filter(|j| in_scope(j, session.as_deref(), &cwd))
        .collect();
    if running_first && let Some(i) = mine.iter().position(|j| j.state() == State::Running) {
        return Ok(mine.swap_remove(i));
    }
    mine.into_iter().next().ok_or_else(|| {
        Error::with_code(
            format!(
                "no job of this {} (`{} jobs --all` lists every job)",
                if session.is_some() {
                    "session"
                } else {
                    "project"
                },
                this_offload()
            ),
            1,
        )
    })
}

// ---------------------------------------------------------------------------------------------
// starting one

/// A job id: the time and 4 random hex digits (`1129-214501-3fa2`).
fn new_id() -> String {
    let mut bytes = [0u8; 2];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    let n = if random {
        u16::from_le_bytes(bytes)
    } else {
        (std::process::id() as u16) ^ (Utc::now().timestamp_subsec_nanos() as u16)
    };
    format!("{}-{n:04x}", Utc::now().format("%m%d-%H%M%S"))
}

/// The `offload run` arguments of the detached runner: the same run, with everything the
/// starter resolved (session, sandbox, folder) written out, and the prompt on stdin.
fn runner_args(args: &RunArgs, plan: &Plan) -> Vec<String> {
    let mut a = vec!["run".to_owned()];
    let mut opt = |flag: &str, v: &Option<String>| {
        if let Some(v) = v {
            a.push(flag.to_owned());
            a.push(v.clone());
        }
    };
    opt("--model", &args.model);
    opt("--effort", &args.effort);
    opt("--timeout", &args.timeout);
    opt("--session", &plan.session);
    // The thread the starter found (`last` would be looked up again, later).
    opt(
        "--resume",
        &plan.resumed.as_ref().map(|r| r.thread_id.clone()),
    );
    if let Some(w) = args.work_type {
        a.push("--work-type".into());
        a.push(w.as_str().into());
    }
    a.push(format!("--fail-closed={}", u8::from(plan.fail_closed)));
    for (on, flag) in [
        (args.dual, "--dual"),
        (args.json, "--json"),
        (args.parallel, "--parallel"),
    ] {
        if on {
            a.push(flag.into());
        }
    }
    a.push("-".into());
    a.push(plan.sandbox.as_str().into());
    a.push(plan.dir.display().to_string());
    a
}

/// `offload run --background`: start the run detached and say how to follow it.
pub fn start(args: &RunArgs, plan: &Plan, prompt: &str, paths: &Paths) -> Result<u8, Error> {
    let fail = |what: &str, p: &Path, e: std::io::Error| {
        Error::with_code(
            format!("cannot start the job: cannot {what} {}: {e}", p.display()),
            exit::ERROR,
        )
    };
    let exe = std::env::current_exe()
        .map_err(|e| Error::with_code(format!("cannot find offload itself: {e}"), 1))?;
    prune(paths);
    let id = new_id();
    let dir = jobs_dir(paths).join(&id);
    create_private_dir(&dir).map_err(|e| fail("create", &dir, e))?;
    let file = |name: &str| -> Result<std::fs::File, Error> {
        use std::os::unix::fs::OpenOptionsExt;
        let p = dir.join(name);
        std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .read(true)
            .mode(0o600)
            .open(&p)
            .map_err(|e| fail("create", &p, e))
    };
    let mut prompt_file = file("prompt")?;
    prompt_file
        .write_all(prompt.as_bytes())
        .map_err(|e| fail("write", &dir.join("prompt"), e))?;
    let stdin = std::fs::File::open(dir.join("prompt"))
        .map_err(|e| fail("read", &dir.join("prompt"), e))?;
    let (out, err) = (file("out")?, file("err")?);
    let head: String = {
        let words = prompt.split_whitespace().collect::<Vec<_>>().join(" ");
        if words.chars().count() > 60 {
            words.chars().take(60).collect::<String>() + "…"
        } else {
            words
        }
    };
    let mut job = JobFile {
        id: id.clone(),
        created: Utc::now(),
        session: plan.session.clone(),
        cwd: plan.dir.display().to_string(),
        models: plan.models.iter().map(|(_, m)| m.clone()).collect(),
        sandbox: plan.sandbox.as_str().into(),
        work_type: plan.work_type.map(|w| w.as_str().to_owned()),
        prompt: head,
        // Set once it is started.
        pid: 0,
        pid_start: 0,
        fail_closed: plan.fail_closed,
        claude: shared::claude_marker::ClaudeView::of_ancestor(),
    };
    // Written before the runner starts, so that the runner always finds it (the view of the
    // Claude Code above); then again with the runner's pid.
    write_atomic(
        &dir.join("job.json"),
        &serde_json::to_vec_pretty(&job).unwrap_or_default(),
    )
    .map_err(|e| fail("write", &dir.join("job.json"), e))?;
    let mut cmd = Command::new(&exe);
    cmd.args(runner_args(args, plan))
        .env(env::OFFLOAD_JOB, &id)
        .current_dir(&plan.dir)
        .stdin(stdin)
        .stdout(out)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe; between fork and exec nothing else runs.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::with_code(format!("cannot start the job: {e}"), exit::ERROR))?;
    let pid = child.id();
    // Not waited for: it outlives this process (init reaps it).
    drop(child);
    job.pid = pid;
    // Read now: a runner that already ended leaves 0, which no process has (lost, unless it
    // wrote `exit`).
    job.pid_start = shared::process::start_time(pid).unwrap_or(0);
    let bytes = serde_json::to_vec_pretty(&job).unwrap_or_default();
    if let Err(e) = write_atomic(&dir.join("job.json"), &bytes) {
        // Without its file no one can follow or cancel it: end it now.
        // SAFETY: signalling the process group this process just started.
        unsafe {
            libc::kill(-(pid as i32), libc::SIGTERM);
        }
        return Err(fail("write", &dir.join("job.json"), e));
    }
    let offload = this_offload();
    let models = job.models.join(" and ");
    println!(
        "offload: job {id} started in the background ({models}, {}, in {}).\n  \
         wait for it:  {offload} wait {id}     (up to {} per call: give the Bash call \"timeout\": 600000; \
         exit {} means still running, wait again)\n  \
         list jobs:    {offload} jobs\n  \
         cancel it:    {offload} cancel {id}\n\
         Codex is working on it now: do not start another run for this work, and do not do it natively meanwhile.",
        job.sandbox,
        quote(&job.cwd),
        shared::format::millis(DEFAULT_WAIT.as_millis() as u64),
        exit::STILL_RUNNING,
    );
    Ok(exit::OK)
}

/// Remove the folders of finished or lost jobs beyond the newest [`KEEP`].
fn prune(paths: &Paths) {
    let jobs = all_jobs(paths);
    for j in jobs
        .iter()
        .filter(|j| j.state() != State::Running)
        .skip(KEEP)
    {
        let _ = std::fs::remove_dir_all(&j.dir);
    }
}

/// In the runner of a job: the job's id (what its attempts record).
pub fn own_job_id() -> Option<String> {
    own_job().map(|(_, id)| id)
}

/// In the runner of a job (`OFFLOAD_JOB` set): its id, when it names a job folder.
fn own_job() -> Option<(PathBuf, String)> {
    let id = env::var(env::OFFLOAD_JOB)?;
    if !id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return None;
    }
    let dir = jobs_dir(&Paths::from_env().ok()?).join(&id);
    dir.join("job.json").is_file().then_some((dir, id))
}

/// In the runner of a job: what the Claude Code above its starter started with.
pub fn claude_view() -> Option<shared::claude_marker::ClaudeView> {
    let (dir, _) = own_job()?;
    Job::read(&dir)?.file.claude
}

/// In the runner of a job: whether `offload cancel` asked for the stop it got.
pub fn cancel_requested() -> bool {
    own_job().is_some_and(|(dir, _)| dir.join("cancel").exists())
}

/// In the runner of a job: its `--json` result (written before the exit code).
pub fn record_result(result: &Value) {
    if let Some((dir, _)) = own_job() {
        let _ = write_atomic(
            &dir.join("result.json"),
            &serde_json::to_vec_pretty(result).unwrap_or_default(),
        );
    }
}

/// In the runner of a job: its exit code, last of all (a job with it is finished).
pub fn record_exit(code: u8) {
    if let Some((dir, _)) = own_job() {
        let _ = write_atomic(&dir.join("exit"), format!("{code}\n").as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// jobs

pub fn list(args: JobsArgs) -> Result<u8, Error> {
    let paths = paths()?;
    let ledger = Ledger::new(paths.clone());
    let session = this_session();
    let cwd = cwd()?;
    let jobs: Vec<Job> = all_jobs(&paths)
        .into_iter()
        .filter(|j| args.all || in_scope(j, session.as_deref(), &cwd))
        .collect();
    let rows: Vec<Value> = jobs
        .iter()
        .map(|j| {
            let state = j.state();
            if state == State::Lost {
                j.close_attempts(
                    &ledger,
                    Outcome::Failed,
                    "its runner ended without recording a finish (killed, or the machine went down)",
                );
            }
            let result = j.result();
            let tokens = result.as_ref().map(total_tokens);
            json!({
                "id": j.file.id,
                "state": state.name(),
                "exit_code": match state { State::Done(c, _) => Some(c), _ => None },
                "models": j.file.models,
                "sandbox": j.file.sandbox,
                "work_type": j.file.work_type,
                "session": j.file.session,
                "cwd": j.file.cwd,
                "started": j.file.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "elapsed_ms": j.elapsed().as_millis() as u64,
                "prompt": j.file.prompt,
                "tokens": tokens,
                "pid": j.file.pid,
            })
        })
        .collect();
    if args.json {
        println!("{}", Value::Array(rows));
        return Ok(0);
    }
    if rows.is_empty() {
        println!(
            "No jobs {}. `{} run --background …` starts one{}.",
            if args.all {
                "at all".to_owned()
            } else if session.is_some() {
                "in this session".to_owned()
            } else {
                format!("for {}", cwd.display())
            },
            this_offload(),
            if args.all {
                ""
            } else {
                "; --all lists every job"
            }
        );
        return Ok(0);
    }
    println!(
        "{:<17} {:<11} {:<22} {:<16} {:>8} {:>7}  PROMPT",
        "JOB", "STATE", "MODEL", "SANDBOX", "ELAPSED", "TOKENS"
    );
    for r in &rows {
        let models = r["models"]
            .as_array()
            .map(|m| {
                m.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("+")
            })
            .unwrap_or_default();
        let elapsed = Duration::from_millis(r["elapsed_ms"].as_u64().unwrap_or(0));
        println!(
            "{:<17} {:<11} {:<22} {:<16} {:>8} {:>7}  {}",
            r["id"].as_str().unwrap_or(""),
            r["state"].as_str().unwrap_or(""),
            models,
            r["sandbox"].as_str().unwrap_or(""),
            shared::format::millis(elapsed.as_millis() as u64),
            r["tokens"]
                .as_u64()
                .map_or("-".into(), shared::format::tokens),
            r["prompt"].as_str().unwrap_or("")
        );
    }
    Ok(0)
}

/// The tokens of a `--json` result: one attempt's, or the sum of `--dual`'s.
fn total_tokens(result: &Value) -> u64 {
    let one = |r: &Value| r["tokens"]["total"].as_u64().unwrap_or(0);
    match result["attempts"].as_array() {
        Some(a) => a.iter().map(one).sum(),
        None => one(result),
    }
}

// ---------------------------------------------------------------------------------------------
// wait, result

/// Print what `offload run` printed, and exit as it did.
fn replay(job: &Job, code: u8) -> u8 {
    let out = job.output("out");
    if !out.is_empty() {
        print!("{out}");
    }
    let err = job.output("err");
    if !err.is_empty() {
        eprint!("{err}");
    }
    code
}

fn lost(job: &Job) -> Result<u8, Error> {
    let ledger = Ledger::new(paths()?);
    job.close_attempts(
        &ledger,
        Outcome::Failed,
        "its runner ended without recording a finish (killed, or the machine went down)",
    );
    let err = job.output("err");
    if !err.trim().is_empty() {
        eprint!("{err}");
    }
    Err(Error::with_code(
        format!(
            "job {} was lost: its runner (pid {}) ended without a result (killed, or the machine \
             went down). Its attempt is recorded as failed; start the work again if it is still needed.",
            job.file.id, job.file.pid
        ),
        Outcome::Failed.exit_code(job.file.fail_closed),
    ))
}

pub fn wait(args: WaitArgs) -> Result<u8, Error> {
    let limit = match &args.timeout {
        Some(t) => shared::config::limits::WAIT
            .parse(t)
            .map_err(|e| Error::usage(format!("--timeout: {e}")))?,
        None => DEFAULT_WAIT,
    };
    let job = pick(&args.job, true)?;
    let deadline = Instant::now() + limit;
    loop {
        match job.state() {
            State::Done(code, _) => return Ok(replay(&job, code)),
            State::Lost => return lost(&job),
            State::Running if Instant::now() >= deadline => {
                let offload = this_offload();
                eprintln!(
                    "offload: job {} is still running ({} so far; Codex is working). Wait again: \
                     {offload} wait {}   (exit {} means still running; do not start another run meanwhile)",
                    job.file.id,
                    shared::format::millis(job.elapsed().as_millis() as u64),
                    job.file.id,
                    exit::STILL_RUNNING
                );
                return Ok(exit::STILL_RUNNING);
            }
            State::Running => std::thread::sleep(POLL.min(deadline - Instant::now())),
        }
    }
}

pub fn result(args: JobArgs) -> Result<u8, Error> {
    let job = pick(&args, false)?;
    match job.state() {
        State::Done(code, _) => {
            let out = job.output("out");
            if !out.is_empty() {
                print!("{out}");
            }
            // The summary line: the last line `offload run` printed to stderr.
            if let Some(line) = job
                .output("err")
                .lines()
                .rev()
                .find(|l| l.starts_with("offload: "))
            {
                eprintln!("{line}");
            }
            Ok(code)
        }
        State::Lost => lost(&job),
        State::Running => {
            eprintln!(
                "offload: job {} is still running ({} so far): `{} wait {}` waits for its answer",
                job.file.id,
                shared::format::millis(job.elapsed().as_millis() as u64),
                this_offload(),
                job.file.id
            );
            Ok(exit::STILL_RUNNING)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// cancel

pub fn cancel(args: JobArgs) -> Result<u8, Error> {
    let job = pick(&args, true)?;
    let state = job.state();
    if state != State::Running {
        println!(
            "offload: job {} is not running (it is {}); nothing to cancel.",
            job.file.id,
            state.name()
        );
        return Ok(0);
    }
    let _ = write_atomic(&job.dir.join("cancel"), Utc::now().to_rfc3339().as_bytes());
    let pid = job.file.pid as i32;
    // SAFETY: signalling the job's runner, whose pid and start time were just checked.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + CANCEL_WAIT;
    while job.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut killed = false;
    if job.alive() {
        // It did not end in time: its whole process group (its own session) goes; codex's
        // reaper follows its parent.
        // SAFETY: the group of the job's runner, started by `offload run --background`.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
            libc::kill(pid, libc::SIGKILL);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while job.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        killed = true;
    }
    let ledger = Ledger::new(paths()?);
    job.close_attempts(&ledger, Outcome::Cancelled, "cancelled by `offload cancel`");
    if killed && !job.alive() && job.exit_code().is_none() {
        // Killed before it could say how it ended: what the ledger now says, said here too.
        let code = Outcome::Cancelled.exit_code(job.file.fail_closed);
        let _ = write_atomic(
            &job.dir.join("result.json"),
            json!({"outcome": Outcome::Cancelled, "exit_code": code})
                .to_string()
                .as_bytes(),
        );
        let _ = write_atomic(&job.dir.join("exit"), format!("{code}\n").as_bytes());
    }
    let now = job.state();
    println!(
        "offload: job {} cancelled{} ({}).",
        job.file.id,
        if killed {
            ": it did not stop in time and was killed"
        } else {
            ""
        },
        match &now {
            State::Done(_, Some(o)) => format!("recorded {o}"),
            State::Running => "still running".into(),
            _ => "recorded cancelled".into(),
        }
    );
    Ok(if now == State::Running { 1 } else { 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn run_args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["offload", "run"];
        full.extend_from_slice(argv);
        match crate::cli::Cli::parse_from(full).command {
            crate::cli::Command::Run(a) => a,
            _ => unreachable!(),
        }
    }

    /// The runner gets the same run with everything resolved written out, the prompt on
    /// stdin, and without `--background`.
    #[test]
    fn the_runner_runs_the_same_run_resolved() {
        let args = run_args(&[
            "--background",
            "--work-type",
            "code",
            "--timeout",
            "20m",
            "--json",
            "fix `it`",
            "sub",
        ]);
        let mut plan = crate::run::resolve(
            &args,
            &shared::config::RunnerConfig::default(),
            Path::new("/w"),
            |p| p == Path::new("/w/sub"),
            [Some("s-1".into()), None],
        )
        .unwrap();
        plan.resumed = Some(crate::run::Resumed {
            thread_id: "019a0000-0000-7000-8000-000000000001".into(),
            prior: shared::codex::resume::Prior::choose(None, Default::default(), 0),
        });
        let a = runner_args(&args, &plan);
        assert_eq!(
            a,
            [
                "run",
                "--timeout",
                "20m",
                "--session",
                "s-1",
                "--resume",
                "019a0000-0000-7000-8000-000000000001",
                "--work-type",
                "code",
                "--fail-closed=1",
                "--json",
                "-",
                "workspace-write",
                "/w/sub"
            ]
        );
        let reparsed = run_args(&a[1..].iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!reparsed.background);
        assert_eq!(reparsed.prompt, "-");
    }

    #[test]
    fn ids_and_scope() {
        let id = new_id();
        assert_eq!(id.len(), 16, "{id}");
        assert!(is_job_id(&id), "{id}");
        for bad in [
            "../x",
            "1129-215234-711",
            "1129-215234-711g",
            "x129-215234-711b",
            "",
        ] {
            assert!(!is_job_id(bad), "{bad}");
        }
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
        let job = |session: Option<&str>, cwd: &str| Job {
            file: JobFile {
                id: id.clone(),
                created: Utc::now(),
                session: session.map(str::to_owned),
                cwd: cwd.into(),
                models: vec!["m".into()],
                sandbox: "read-only".into(),
                work_type: None,
                prompt: "p".into(),
                pid: 0,
                pid_start: 0,
                fail_closed: true,
                claude: None,
            },
            dir: PathBuf::from("/nonexistent"),
        };
        let here = Path::new("/w/p");
        assert!(in_scope(&job(Some("a"), "/x"), Some("a"), here));
        assert!(!in_scope(&job(Some("b"), "/w/p"), Some("a"), here));
        assert!(in_scope(&job(None, "/w/p"), None, here));
        assert!(
            !in_scope(&job(None, "/w/p/sub"), None, here),
            "not every project below"
        );
        assert!(in_scope(&job(None, "/w"), None, here));
        assert!(!in_scope(&job(None, "/w/other"), None, here));
        // A job whose runner never started (pid 0) and left no exit code is lost.
        assert_eq!(job(None, "/w").state(), State::Lost);
    }
}
