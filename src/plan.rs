//! `offload plan new|check|next|run`: the plan format and every decision about it live in
//! [`shared::plan`]; this file reads and writes the files, runs the processes, and prints.
//!
//! - `new <feature>` writes `docs/plans/<today>-<slug>.md` under the current directory from
//!   the template, and never overwrites.
//! - `check <file>` prints every problem as `file:line: message (hint)`; exit 1 if any.
//! - `next <file>` prints the next batch: at most 3 ready Codex tasks with the exact
//!   `offload run` command of each, and the ready tasks that are Claude's.
//! - `run <file>` runs the next batch: the batch's commands at once (as child
//!   `offload run --json` processes, so every attempt is recorded like any other), then each
//!   task's `Commands` as its done check (`bash -c`, in the project root, one after another);
//!   it marks the tasks whose checks pass `done` in the file (atomically), and stops: with the
//!   exact command that runs the next batch, once the batch is verified (the skill's loop
//!   verifies between batches), or with exit 1 when a task failed. `run --all` goes on batch
//!   after batch until nothing is ready, stopping after the first batch with a failure.
//!
//! The project root is the folder holding the plan's `docs/plans/`, else the current directory.
//! The routing policy is the runner's models after config, project override and environment.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Component, Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use chrono::Local;
use serde_json::{Value, json};

use shared::config::{Config, RunnerConfig, limits};
use shared::format::millis;
use shared::paths::Paths;
use shared::plan::{
    self, Batch, MAX_BATCH, Plan, Problem, RoutingPolicy, Task, check_text_at, command_line,
    next_batch, run_args,
};

use crate::Error;
use crate::cli::PlanCommand;

/// Lines of a failed check's output shown.
const TAIL_LINES: usize = 20;

pub fn main(cmd: PlanCommand) -> Result<u8, Error> {
    match cmd {
        PlanCommand::New { feature } => new(&feature),
        PlanCommand::Check { file, json } => check(&file, json),
        PlanCommand::Next { file, json } => next(&file, json),
        PlanCommand::Run { file, all } => run(&file, all),
        PlanCommand::Format => {
            crate::out::print(PLAN_FORMAT);
            Ok(0)
        }
    }
}

/// Where a plan command works, and under which policy.
struct Ctx {
    cwd: PathBuf,
    root: PathBuf,
    policy: RoutingPolicy,
    runner: RunnerConfig,
}

impl Ctx {
    fn new(plan_file: Option<&Path>) -> Result<Ctx, Error> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::with_code(format!("cannot read the current directory: {e}"), 1))?;
        let root = plan_file.map_or_else(|| cwd.clone(), |f| project_root(&cwd.join(f), &cwd));
        let mut loaded = match Paths::from_env() {
            Ok(paths) => Config::load_for_project(&paths.config_file, Some(&root)),
            Err(_) => Default::default(),
        };
        loaded.warnings.extend(loaded.config.apply_env());
        for w in &loaded.warnings {
            eprintln!("offload: warning: {w}");
        }
        let runner = loaded.config.runner;
        Ok(Ctx {
            cwd,
            root,
            policy: RoutingPolicy::from(&runner),
            runner,
        })
    }

    /// The project folder as `offload run` should be given it: `.` when it is the current one.
    fn dir_arg(&self) -> String {
        let same = fs::canonicalize(&self.root).ok() == fs::canonicalize(&self.cwd).ok();
        if same {
            ".".into()
        } else {
            self.root.display().to_string()
        }
    }
}

/// The folder holding `docs/plans/` when `file` is in one, else `cwd`.
fn project_root(file: &Path, cwd: &Path) -> PathBuf {
    let file: PathBuf = fs::canonicalize(file).unwrap_or_else(|_| tidy(file));
    let plans = file.parent();
    let docs = plans.and_then(Path::parent);
    match (plans, docs) {
        (Some(p), Some(d))
            if p.file_name().is_some_and(|n| n == "plans")
                && d.file_name().is_some_and(|n| n == "docs") =>
        {
            d.parent()
                .map_or_else(|| cwd.to_path_buf(), Path::to_path_buf)
        }
        _ => cwd.to_path_buf(),
    }
}

/// `a/./b/../c` → `a/c`, without touching the file system.
fn tidy(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The largest plan file read (a plan is a few KiB).
const MAX_PLAN: u64 = 4 << 20;

/// A plan file's text: a regular file (a FIFO or a device such as `/dev/zero` is refused
/// without being read), at most [`MAX_PLAN`] bytes, UTF-8.
fn read(file: &Path) -> Result<String, Error> {
    let fail = |why: String| Error::with_code(format!("cannot read {}: {why}", file.display()), 1);
    let bytes = match shared::fsutil::read_regular(file, MAX_PLAN + 1) {
        Ok(Some(b)) if b.len() as u64 > MAX_PLAN => {
            return Err(fail(format!(
                "it is larger than {} MiB, which no plan is",
                MAX_PLAN >> 20
            )));
        }
        Ok(Some(b)) => b,
        Ok(None) => return Err(fail("it is not a regular file".into())),
        Err(e) => return Err(fail(e.to_string())),
    };
    String::from_utf8(bytes).map_err(|_| fail("it is not UTF-8 text".into()))
}

// ---------------------------------------------------------------------------------------------
// new

fn new(feature: &str) -> Result<u8, Error> {
    let slug = plan::slug(feature).ok_or_else(|| {
        Error::usage(format!(
            "the feature {feature:?} has no ASCII letter or digit to name the file after"
        ))
    })?;
    let ctx = Ctx::new(None)?;
    let rel = Path::new("docs/plans").join(plan::file_name(Local::now().date_naive(), &slug));
    let path = ctx.cwd.join(&rel);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)
            .map_err(|e| Error::with_code(format!("cannot create {}: {e}", dir.display()), 1))?;
    }
    let text = plan::template(feature, &ctx.policy);
    let written = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| f.write_all(text.as_bytes()));
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::with_code(
                format!(
                    "{} already exists; not overwriting it (edit it, or pick another feature name)",
                    rel.display()
                ),
                1,
            ));
        }
        Err(e) => {
            return Err(Error::with_code(
                format!("cannot write {}: {e}", rel.display()),
                1,
            ));
        }
    }
    println!("{}", rel.display());
    eprintln!(
        "offload: wrote {0}: fill in every {{{{placeholder}}}}, then run `offload plan check {0}`",
        rel.display()
    );
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// check

fn check(file: &Path, json: bool) -> Result<u8, Error> {
    let text = read(file)?;
    let ctx = Ctx::new(Some(file))?;
    let problems = check_text_at(&text, &ctx.policy, &ctx.root);
    let parsed = plan::parse(&text).plan;
    let shown = file.display();
    if json {
        let v = json!({
            "file": file,
            "ok": problems.is_empty(),
            "problems": problems,
            "tasks": parsed.tasks.len(),
            "done": parsed.tasks.iter().filter(|t| t.done).count(),
        });
        println!("{v}");
    } else if problems.is_empty() {
        println!("{shown}: OK: {}", summary(&parsed));
    } else {
        print_problems(&mut io::stdout().lock(), file, &problems);
        eprintln!(
            "offload: {} problem{} in {shown}",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
    }
    Ok(u8::from(!problems.is_empty()))
}

fn print_problems(out: &mut impl Write, file: &Path, problems: &[Problem]) {
    for p in problems {
        let _ = writeln!(
            out,
            "{}:{}: {} ({})",
            file.display(),
            p.line,
            p.message,
            p.hint
        );
    }
}

/// `3 tasks, 1 done; 2 for Codex, 1 for Claude; 9 min estimated`.
fn summary(plan: &Plan) -> String {
    let n = plan.tasks.len();
    let done = plan.tasks.iter().filter(|t| t.done).count();
    let codex = plan.tasks.iter().filter(|t| t.is_codex()).count();
    format!(
        "{n} task{}, {done} done; {codex} for Codex, {} for Claude; {} min estimated",
        if n == 1 { "" } else { "s" },
        n - codex,
        plan.estimate_min()
    )
}

/// The plan in `file`, or its problems printed to stderr and `Err(exit code)`.
fn load(file: &Path, ctx: &Ctx) -> Result<Result<Plan, u8>, Error> {
    let text = read(file)?;
    match plan::load(&text, &ctx.policy, Some(&ctx.root)) {
        Ok(plan) => Ok(Ok(plan)),
        Err(problems) => {
            print_problems(&mut io::stderr().lock(), file, &problems);
            eprintln!(
                "offload: {} has problems; fix them first (`offload plan check {}`)",
                file.display(),
                file.display()
            );
            Ok(Err(1))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// next

/// The plan format, as installed beside the skill.
pub const PLAN_FORMAT: &str = include_str!("../skills/plan-and-execute/plan-format.md");

/// The `offload run` invocation of one Codex task.
struct Dispatch<'a> {
    task: &'a Task,
    prompt: String,
    /// After `offload`.
    args: Vec<String>,
}

impl Dispatch<'_> {
    fn command(&self) -> String {
        format!(
            "{} {}",
            shared::shell::this_offload(),
            command_line(&self.args)
        )
    }
}

fn dispatches<'a>(plan: &Plan, batch: &Batch<'a>, dir: &str) -> Vec<Dispatch<'a>> {
    let mut out: Vec<Dispatch<'a>> = batch
        .codex
        .iter()
        .filter_map(|task| {
            let prompt = plan::prompt(plan, task);
            let args = run_args(task, &prompt, dir)?;
            Some(Dispatch { task, prompt, args })
        })
        .collect();
    // A batch's tasks run at once on one project, by design (the plan keeps their files
    // apart): say so, or each `workspace-write` run after the first would refuse to start while
    // the others work.
    let writes = |d: &Dispatch<'_>| d.args.iter().any(|a| a == "workspace-write");
    if out.iter().filter(|d| writes(d)).count() > 1 {
        for d in out.iter_mut().filter(|d| writes(d)) {
            d.args.insert(1, "--parallel".into());
        }
    }
    out
}

fn next(file: &Path, json: bool) -> Result<u8, Error> {
    let ctx = Ctx::new(Some(file))?;
    let plan = match load(file, &ctx)? {
        Ok(p) => p,
        Err(code) => return Ok(code),
    };
    let batch = next_batch(&plan, MAX_BATCH);
    let runs = dispatches(&plan, &batch, &ctx.dir_arg());
    if json {
        let v = json!({
            "file": file,
            "done": batch.done,
            "total": batch.total,
            "batch": runs.iter().map(|d| json!({
                "id": d.task.id,
                "title": d.task.title,
                "model": d.args[2],
                "sandbox": d.args[4],
                "estimate_min": d.task.estimate_min,
                "files": d.task.files,
                "commands": d.task.commands,
                "prompt": d.prompt,
                "argv": std::iter::once("offload").chain(d.args.iter().map(String::as_str)).collect::<Vec<_>>(),
                "command": d.command(),
            })).collect::<Vec<_>>(),
            "claude": batch.claude.iter().map(|t| json!({
                "id": t.id,
                "title": t.title,
                "objective": t.objective,
                "files": t.files,
                "commands": t.commands,
                "done_when": t.done_when,
            })).collect::<Vec<_>>(),
            "later": batch.later.iter().map(|t| &t.id).collect::<Vec<_>>(),
            "waiting": batch.waiting.iter().map(|w| json!({"id": w.task.id, "on": w.on})).collect::<Vec<_>>(),
        });
        println!("{v}");
        return Ok(0);
    }
    let mut out = String::new();
    let shown = file.display();
    if batch.done == batch.total {
        let _ = writeln!(out, "{shown}: all {} tasks are done.", batch.total);
        print!("{out}");
        return Ok(0);
    }
    let _ = writeln!(
        out,
        "{shown}: {} of {} tasks done.",
        batch.done, batch.total
    );
    if !runs.is_empty() {
        let _ = writeln!(
            out,
            "\nNext batch for Codex ({}):",
            if runs.len() == 1 {
                "1 task".to_owned()
            } else {
                format!("{} tasks; run them at once", runs.len())
            }
        );
        for d in &runs {
            let backend = d.task.backend.as_ref().map(|b| b.to_string());
            let _ = writeln!(
                out,
                "\n{}: {} ({}, {} min)\n{}",
                d.task.id,
                d.task.title,
                backend.unwrap_or_default(),
                d.task.estimate_min.unwrap_or_default(),
                d.command()
            );
        }
    }
    if !batch.claude.is_empty() {
        let _ = writeln!(out, "\nFor Claude (do these yourself):");
        for t in &batch.claude {
            let _ = writeln!(
                out,
                "{}: {} ({} min); files: {}; check: {}",
                t.id,
                t.title,
                t.estimate_min.unwrap_or_default(),
                t.files.join(", "),
                t.commands
                    .iter()
                    .map(|c| format!("`{c}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    if !batch.later.is_empty() {
        let ids: Vec<&str> = batch.later.iter().map(|t| t.id.as_str()).collect();
        let _ = writeln!(
            out,
            "\nLater: {} (ready, but over the batch limit or sharing a file with this batch)",
            ids.join(", ")
        );
    }
    if !batch.waiting.is_empty() {
        let w: Vec<String> = batch
            .waiting
            .iter()
            .map(|w| format!("{} on {}", w.task.id, w.on.join(", ")))
            .collect();
        let _ = writeln!(out, "\nWaiting: {}", w.join("; "));
    }
    if runs.is_empty() && batch.claude.is_empty() {
        let _ = writeln!(out, "\nNothing is ready.");
    } else {
        let _ = writeln!(
            out,
            "\nWhen a task's commands pass, set its `- Status: done` \
             (`offload plan run {shown}` does this for the batch's Codex tasks, then stops for you to verify)."
        );
    }
    print!("{out}");
    Ok(0)
}

// ---------------------------------------------------------------------------------------------
// run

/// How one dispatched task went.
struct TaskResult {
    id: String,
    backend: String,
    /// The runner's outcome (`success`, `failed`, …).
    outcome: String,
    codex_ok: bool,
    codex_error: Option<String>,
    run_dir: Option<String>,
    check: CheckResult,
    took: Duration,
}

enum CheckResult {
    Skipped,
    Passed(usize),
    Failed {
        command: String,
        why: String,
        tail: String,
    },
}

impl TaskResult {
    fn ok(&self) -> bool {
        self.codex_ok && matches!(self.check, CheckResult::Passed(_))
    }
}

/// Ctrl-C, SIGTERM or SIGHUP during `plan run`: the running `offload run` children are sent
/// SIGTERM (each ends its codex and records the attempt), a running check's process group is
/// killed, and nothing new starts.
#[derive(Default)]
struct Stop {
    stopped: AtomicBool,
    /// Running children by pid, and check process groups as negative pids.
    targets: Mutex<Vec<i32>>,
}

impl Stop {
    fn install() -> Arc<Stop> {
        let stop = Arc::new(Stop::default());
        let sigs = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];
        match signal_hook::iterator::Signals::new(sigs) {
            Ok(mut signals) => {
                let s = stop.clone();
                thread::spawn(move || {
                    for _ in signals.forever() {
                        s.stopped.store(true, Ordering::SeqCst);
                        let targets = s.targets.lock().unwrap_or_else(|e| e.into_inner());
                        for t in targets.iter() {
                            let sig = if *t < 0 { libc::SIGKILL } else { libc::SIGTERM };
                            // SAFETY: kill(2) has no memory effects; the targets are processes
                            // (and process groups) this module started and has not reaped.
                            unsafe {
                                libc::kill(*t, sig);
                            }
                        }
                    }
                });
            }
            Err(e) => eprintln!("offload: warning: cannot watch for Ctrl-C ({e})"),
        }
        stop
    }

    fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Follow `target` (a pid, or a process group as a negative pid); if a signal came
    /// before it could be followed, end it now.
    fn track(&self, target: i32) {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        targets.push(target);
        if self.is_stopped() {
            let sig = if target < 0 {
                libc::SIGKILL
            } else {
                libc::SIGTERM
            };
            // SAFETY: as in `install`: a process (group) this module started and has not reaped.
            unsafe {
                libc::kill(target, sig);
            }
        }
    }

    fn untrack(&self, target: i32) {
        self.targets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|t| *t != target);
    }
}

fn run(file: &Path, all: bool) -> Result<u8, Error> {
    let ctx = Ctx::new(Some(file))?;
    let stop = Stop::install();
    let exe = std::env::current_exe()
        .map_err(|e| Error::with_code(format!("cannot find the offload executable: {e}"), 1))?;
    // The config was checked when it was loaded; a value out of range still cannot get through.
    let check_timeout = limits::TIMEOUT
        .parse(&ctx.runner.timeout)
        .unwrap_or(Duration::from_secs(600));
    let dir = ctx.root.display().to_string();
    let mut batch_no = 0;
    loop {
        let plan = match load(file, &ctx)? {
            Ok(p) => p,
            Err(code) => return Ok(code),
        };
        let batch = next_batch(&plan, MAX_BATCH);
        let runs = dispatches(&plan, &batch, &dir);
        if runs.is_empty() {
            println!("{}", run_end(file, &batch));
            return Ok(0);
        }
        batch_no += 1;
        let ids: Vec<&str> = runs.iter().map(|d| d.task.id.as_str()).collect();
        eprintln!("offload: plan batch {batch_no}: {} → Codex", ids.join(", "));
        let started = Instant::now();
        let mut results: Vec<TaskResult> = thread::scope(|s| {
            let handles: Vec<_> = runs
                .iter()
                .map(|d| s.spawn(|| dispatch(&exe, d, &ctx.root, &stop)))
                .collect();
            handles
                .into_iter()
                .zip(&runs)
                .map(|(h, d)| {
                    h.join().unwrap_or_else(|_| TaskResult {
                        id: d.task.id.clone(),
                        backend: backend_of(d.task),
                        outcome: "error".into(),
                        codex_ok: false,
                        codex_error: Some("the dispatch thread panicked".into()),
                        run_dir: None,
                        check: CheckResult::Skipped,
                        took: started.elapsed(),
                    })
                })
                .collect()
        });
        // Checks one after another, after every Codex run of the batch has ended: a check must
        // not see another task's half-written files.
        for (r, d) in results.iter_mut().zip(&runs) {
            if !r.codex_ok || stop.is_stopped() {
                continue;
            }
            let t0 = Instant::now();
            r.check = run_checks(&d.task.commands, &ctx.root, check_timeout, &stop);
            r.took += t0.elapsed();
            if r.ok() {
                mark(file, &r.id)?;
            }
        }
        print!("{}", table(batch_no, &results));
        let failed: Vec<&TaskResult> = results.iter().filter(|r| !r.ok()).collect();
        let passed: Vec<&str> = results
            .iter()
            .filter(|r| r.ok())
            .map(|r| r.id.as_str())
            .collect();
        if !passed.is_empty() {
            println!("Marked done: {}", passed.join(", "));
        }
        if stop.is_stopped() {
            return Err(Error::with_code(
                format!(
                    "plan run interrupted in batch {batch_no}; tasks whose checks passed are marked done in {}",
                    file.display()
                ),
                1,
            ));
        }
        if failed.is_empty() {
            if all {
                continue;
            }
            // One batch: stop so that it can be verified, and say how to go on.
            let plan = match load(file, &ctx)? {
                Ok(p) => p,
                Err(code) => return Ok(code),
            };
            let next = next_batch(&plan, MAX_BATCH);
            if dispatches(&plan, &next, &dir).is_empty() {
                println!("{}", run_end(file, &next));
            } else {
                println!("{}", run_next(file, &next));
            }
            return Ok(0);
        }
        println!();
        for r in &failed {
            print!("{}", failure_detail(r));
        }
        let ids: Vec<&str> = failed.iter().map(|r| r.id.as_str()).collect();
        return Err(Error::with_code(
            format!(
                "plan run stopped after batch {batch_no}: {} failed; fix {} and run `offload plan run {}` again",
                ids.join(", "),
                if ids.len() == 1 { "it" } else { "them" },
                file.display()
            ),
            1,
        ));
    }
}

fn backend_of(task: &Task) -> String {
    task.backend
        .as_ref()
        .map(|b| b.to_string())
        .unwrap_or_default()
}

/// Run `offload run --json …` for one task and read its result.
fn dispatch(exe: &Path, d: &Dispatch<'_>, root: &Path, stop: &Stop) -> TaskResult {
    let started = Instant::now();
    let mut args = d.args.clone();
    args.insert(1, "--json".into());
    let output = if stop.is_stopped() {
        Err(io::Error::other("interrupted before it started"))
    } else {
        Command::new(exe)
            .args(&args)
            .current_dir(root)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|child| {
                let pid = child.id() as i32;
                stop.track(pid);
                let out = child.wait_with_output();
                stop.untrack(pid);
                out
            })
    };
    let took = started.elapsed();
    let mut r = TaskResult {
        id: d.task.id.clone(),
        backend: backend_of(d.task),
        outcome: "error".into(),
        codex_ok: false,
        codex_error: None,
        run_dir: None,
        check: CheckResult::Skipped,
        took,
    };
    let output = match output {
        Ok(o) => o,
        Err(e) => {
            r.codex_error = Some(format!("cannot start {}: {e}", exe.display()));
            eprintln!(
                "offload: plan {}: {}",
                r.id,
                r.codex_error.as_deref().unwrap_or("")
            );
            return r;
        }
    };
    let result: Option<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok());
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    match &result {
        Some(v) => {
            r.outcome = text(v, "outcome").unwrap_or_else(|| "error".into());
            r.codex_error = text(v, "error");
            r.run_dir = text(v, "run_dir");
        }
        None => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            r.codex_error = stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(str::to_owned);
        }
    }
    r.codex_ok = output.status.success() && r.outcome == "success";
    if output.status.success() && result.is_none() {
        r.outcome = "error".into();
        r.codex_error = Some("offload run printed no result".into());
    }
    eprintln!(
        "offload: plan {}: codex {} in {}",
        r.id,
        r.outcome,
        millis(took.as_millis() as u64)
    );
    r
}

/// Each command with `bash -c` in `root`, in order, stopping at the first that fails.
fn run_checks(commands: &[String], root: &Path, timeout: Duration, stop: &Stop) -> CheckResult {
    for c in commands {
        match run_check(c, root, timeout, stop) {
            Ok(()) => {}
            Err((why, tail)) => {
                return CheckResult::Failed {
                    command: c.clone(),
                    why,
                    tail,
                };
            }
        }
    }
    CheckResult::Passed(commands.len())
}

/// One check command: `Err((why, output tail))` unless it exits 0 within `timeout`. It runs in
/// its own process group, so a timeout ends everything it started.
fn run_check(
    command: &str,
    root: &Path,
    timeout: Duration,
    stop: &Stop,
) -> Result<(), (String, String)> {
    let spawned = Command::new("bash")
        .arg("-c")
        .arg(command)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn();
    let mut child: Child =
        spawned.map_err(|e| (format!("could not start bash: {e}"), String::new()))?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let group = -(child.id() as i32);
    stop.track(group);
    let deadline = Instant::now() + timeout.min(limits::TIMEOUT.max);
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) if !status.success() && stop.is_stopped() => {
                break Err("was interrupted".to_owned());
            }
            Ok(Some(status)) => break Ok(status),
            Ok(None) if stop.is_stopped() || Instant::now() >= deadline => {
                shared::process::kill_group(child.id(), libc::SIGKILL);
                let _ = child.wait();
                break Err(if stop.is_stopped() {
                    "was interrupted".to_owned()
                } else {
                    format!("timed out after {}", millis(timeout.as_millis() as u64))
                });
            }
            Ok(None) => thread::sleep(Duration::from_millis(20)),
            Err(e) => break Err(format!("could not be waited for: {e}")),
        }
    };
    // Whatever the command left running in its group goes with it (it would hold the pipes).
    shared::process::kill_group(child.id(), libc::SIGKILL);
    stop.untrack(group);
    let mut bytes = out.join().unwrap_or_default();
    bytes.extend(err.join().unwrap_or_default());
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n");
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err((
            match s.code() {
                Some(c) => format!("exited {c}"),
                None => "was killed by a signal".into(),
            },
            tail,
        )),
        Err(why) => Err((why, tail)),
    }
}

/// Set task `id` done in `file`: re-read (the file may have been edited meanwhile), rewrite
/// that one line, replace the file atomically keeping its permissions.
fn mark(file: &Path, id: &str) -> Result<(), Error> {
    let fail = |e: String| {
        Error::with_code(
            format!("cannot mark {id} done in {}: {e}", file.display()),
            1,
        )
    };
    let text = read(file)?;
    let updated = plan::mark_done(&text, id).map_err(fail)?;
    let mode = fs::metadata(file).map(|m| m.permissions().mode()).ok();
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = file.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        fs::write(&tmp, updated.as_bytes())?;
        if let Some(mode) = mode {
            fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))?;
        }
        fs::rename(&tmp, file)
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(fail(e.to_string()));
    }
    Ok(())
}

/// The result table of one batch.
fn table(batch_no: usize, results: &[TaskResult]) -> String {
    let rows: Vec<[String; 5]> = results
        .iter()
        .map(|r| {
            let check = match &r.check {
                CheckResult::Skipped => "skipped".to_owned(),
                CheckResult::Passed(n) => format!("passed ({n})"),
                CheckResult::Failed { why, .. } => format!("failed: {why}"),
            };
            [
                r.id.clone(),
                r.backend.clone(),
                r.outcome.clone(),
                check,
                millis(r.took.as_millis() as u64),
            ]
        })
        .collect();
    let header = ["task", "backend", "outcome", "check", "duration"];
    let mut width = header.map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(width).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                let _ = write!(s, "{c}{}  ", " ".repeat(w - c.chars().count()));
            }
        }
        s.push('\n');
        s
    };
    let mut out = format!("\nBatch {batch_no}\n");
    out.push_str(&line(header));
    for row in &rows {
        out.push_str(&line(row.each_ref().map(String::as_str)));
    }
    out
}

fn failure_detail(r: &TaskResult) -> String {
    let mut s = String::new();
    if !r.codex_ok {
        let _ = write!(s, "{}: codex {}", r.id, r.outcome);
        if let Some(e) = &r.codex_error {
            let _ = write!(s, ": {e}");
        }
        if let Some(d) = &r.run_dir {
            let _ = write!(s, " (logs: {d})");
        }
        s.push_str("; not checked, not marked done\n");
        return s;
    }
    if let CheckResult::Failed { command, why, tail } = &r.check {
        let _ = writeln!(
            s,
            "{}: its done check `{command}` {why}; not marked done",
            r.id
        );
        for l in tail.lines() {
            let _ = writeln!(s, "    {l}");
        }
    }
    s
}

/// What `plan run` says after a batch when another is ready: how far the plan is, and the
/// exact command that runs the next batch once this one is verified.
fn run_next(file: &Path, batch: &Batch<'_>) -> String {
    let command = format!(
        "{} {}",
        shared::shell::this_offload(),
        shared::shell::command_line(&["plan", "run", &file.display().to_string()])
    );
    format!(
        "{}: {} of {} tasks done. Verify this batch (read the diff, run the tests), then run the next one:\n  {command}\n(`{command} --all` runs every batch without stopping.)",
        file.display(),
        batch.done,
        batch.total
    )
}

/// What `plan run` says when nothing more is ready for Codex.
fn run_end(file: &Path, batch: &Batch<'_>) -> String {
    if batch.done == batch.total {
        return format!("{}: all {} tasks are done.", file.display(), batch.total);
    }
    let mut parts = vec![format!(
        "{}: {} of {} tasks done; nothing more is ready for Codex.",
        file.display(),
        batch.done,
        batch.total
    )];
    if !batch.claude.is_empty() {
        let ids: Vec<&str> = batch.claude.iter().map(|t| t.id.as_str()).collect();
        parts.push(format!("For Claude: {}.", ids.join(", ")));
    }
    if !batch.waiting.is_empty() {
        let w: Vec<String> = batch
            .waiting
            .iter()
            .map(|w| format!("{} on {}", w.task.id, w.on.join(", ")))
            .collect();
        parts.push(format!("Waiting: {}.", w.join("; ")));
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots() {
        let cwd = Path::new("/w");
        assert_eq!(
            project_root(Path::new("/p/docs/plans/x.md"), cwd),
            Path::new("/p")
        );
        assert_eq!(project_root(Path::new("/p/plans/x.md"), cwd), cwd);
        assert_eq!(project_root(Path::new("/x.md"), cwd), cwd);
        assert_eq!(
            project_root(Path::new("/p/q/../docs/plans/./x.md"), cwd),
            Path::new("/p")
        );
    }
}
