//! `offload run`: resolve what to run from flags, environment and config; record the attempt;
//! run codex under supervision; classify; record the result; answer with the exit-code
//! contract (see `shared::outcome`). The summary line names a model codex has no metadata for
//! (not in its catalog, or codex said so), since codex then runs it on fallback metadata.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use shared::codex::catalog::{self, Catalog};
use shared::codex::command::{ExecSpec, Sandbox};
use shared::codex::rollout;
use shared::config::{Config, RunnerConfig, limits, parse_bool};
use shared::env;
use shared::fsutil::create_private_dir;
use shared::ledger::{AttemptFinished, AttemptStarted, Body, Event, Ledger, Tokens};
use shared::outcome::{Ending, Outcome, classify};
use shared::paths::Paths;

use crate::Error;
use crate::cli::{RunArgs, WorkType};
use crate::supervise::{self, Interrupts, Job};

/// Where the prompt comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prompt {
    Text(String),
    Stdin,
}

/// Everything one `offload run` will do, resolved from flags > env > config > defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub prompt: Prompt,
    pub sandbox: Sandbox,
    pub dir: PathBuf,
    /// (label, model): one entry, or two with `--dual`.
    pub models: Vec<(Option<&'static str>, String)>,
    pub work_type: Option<WorkType>,
    pub effort: String,
    pub timeout: Duration,
    pub grace: Duration,
    pub fail_closed: bool,
    pub session: Option<String>,
    pub json: bool,
}

/// Resolve the invocation. `is_dir` tells whether a path is an existing directory; `session_env`
/// gives `CLAUDE_CODE_SESSION_ID`, then `OFFLOAD_SESSION_ID`.
pub fn resolve(
    args: &RunArgs,
    cfg: &RunnerConfig,
    cwd: &Path,
    is_dir: impl Fn(&Path) -> bool,
    session_env: [Option<String>; 2],
) -> Result<Plan, Error> {
    let prompt = if args.prompt == "-" {
        Prompt::Stdin
    } else if args.prompt.trim().is_empty() {
        return Err(Error::usage(
            "the prompt is empty: say what Codex should do",
        ));
    } else {
        Prompt::Text(args.prompt.clone())
    };
    let as_dir = |s: &str| {
        let p = cwd.join(s);
        is_dir(&p).then_some(p)
    };
    let sandbox_of = |s: &str| s.parse::<Sandbox>().map_err(Error::usage);
    let (sandbox, dir) = match (args.second.as_deref(), args.third.as_deref()) {
        (None, _) => (None, None),
        (Some(a), b) if a.parse::<Sandbox>().is_ok() => {
            (Some(sandbox_of(a)?), b.map(PathBuf::from))
        }
        (Some(a), b) => match as_dir(a) {
            Some(d) => (b.map(sandbox_of).transpose()?, Some(d)),
            None => {
                return Err(Error::usage(format!(
                    "{a:?} is neither a sandbox (read-only, workspace-write, danger-full-access) \
                     nor an existing directory"
                )));
            }
        },
    };
    // Lexically tidy (`/w/./sub` → `/w/sub`) so the ledger records one spelling of a folder.
    let dir: PathBuf = dir
        .map_or_else(|| cwd.to_path_buf(), |d| cwd.join(d))
        .components()
        .collect();
    if !is_dir(&dir) {
        return Err(Error::usage(format!(
            "{} is not an existing directory",
            dir.display()
        )));
    }
    let read_only_work = matches!(
        args.work_type,
        Some(WorkType::Analysis | WorkType::Explore | WorkType::Review)
    );
    let sandbox = sandbox.unwrap_or(if args.dual || read_only_work {
        cfg.dual_sandbox.parse().unwrap_or(Sandbox::ReadOnly)
    } else {
        Sandbox::WorkspaceWrite
    });
    let routed = |w: WorkType| match w {
        WorkType::Analysis => cfg.model_logic.clone(),
        WorkType::Code | WorkType::Explore | WorkType::Review => cfg.model_code.clone(),
    };
    let models = if args.dual {
        vec![
            (Some("code"), cfg.model_code.clone()),
            (Some("logic"), cfg.model_logic.clone()),
        ]
    } else {
        let model = args
            .model
            .clone()
            .or_else(|| args.work_type.map(routed))
            .unwrap_or_else(|| cfg.model.clone());
        vec![(None, model)]
    };
    // The flag is checked here; the config and the environment were checked when loaded (a
    // value out of range there was reported and its default used), and are checked again.
    let timeout = match args.timeout.as_deref() {
        Some(flag) => limits::TIMEOUT
            .parse(flag)
            .map_err(|e| Error::usage(format!("--timeout: {e}")))?,
        None => limits::TIMEOUT
            .parse(&cfg.timeout)
            .unwrap_or(Duration::from_secs(600)),
    };
    let grace = limits::KILL_GRACE
        .parse(&cfg.kill_grace)
        .unwrap_or(Duration::from_secs(3));
    let fail_closed = match &args.fail_closed {
        Some(v) => {
            parse_bool(v).ok_or_else(|| Error::usage(format!("--fail-closed={v:?}: use 1 or 0")))?
        }
        None => cfg.fail_closed,
    };
    let [claude, ours] = session_env;
    let session = args
        .session
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or(claude)
        .or(ours);
    Ok(Plan {
        prompt,
        sandbox,
        dir,
        models,
        work_type: args.work_type,
        effort: args.effort.clone().unwrap_or_else(|| cfg.effort.clone()),
        timeout,
        grace,
        fail_closed,
        session,
        json: args.json,
    })
}

/// How long the run waits for codex's model catalog (asked while codex works, and cached: see
/// `shared::codex::catalog`).
const CATALOG_WAIT: Duration = Duration::from_secs(5);

/// The result of one attempt, for output.
struct Result1 {
    attempt: String,
    label: Option<&'static str>,
    model: String,
    outcome: Outcome,
    exit_code: u8,
    error: Option<String>,
    tokens: Tokens,
    thread_id: Option<String>,
    duration_ms: u64,
    answer: Option<String>,
    run_dir: PathBuf,
    rate_limits: Option<rollout::RateLimitSnapshot>,
    record_error: Option<String>,
    /// codex said it has no metadata for the model (and so ran it on fallback metadata).
    said_fallback: bool,
    /// Whether the model is in codex's catalog; `None`: could not check.
    in_catalog: Option<bool>,
    /// Why the model may have served worse, for the summary line.
    model_note: Option<String>,
}

pub fn main(args: RunArgs) -> Result<u8, Error> {
    let paths = Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))?;
    let loaded = Config::load(&paths.config_file);
    for w in &loaded.warnings {
        eprintln!("offload: warning: {w}");
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::usage(format!("cannot read the current directory: {e}")))?;
    let plan = resolve(
        &args,
        &loaded.config.runner,
        &cwd,
        |p| p.is_dir(),
        [
            env::var(env::CLAUDE_CODE_SESSION_ID),
            env::var(env::OFFLOAD_SESSION_ID),
        ],
    )?;
    let prompt = match &plan.prompt {
        Prompt::Text(t) => t.clone(),
        Prompt::Stdin => {
            if std::io::stdin().is_terminal() {
                eprintln!("offload: reading the prompt from stdin (end with Ctrl-D)");
            }
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Error::usage(format!("cannot read the prompt from stdin: {e}")))?;
            if s.trim().is_empty() {
                return Err(Error::usage("the prompt from stdin is empty"));
            }
            s
        }
    };
    let ledger = Ledger::new(paths.clone());
    // Runs whose process died without a finish are closed as failed; a live `workspace-write`
    // run on this project makes this one wait (two codex processes writing one tree undo each
    // other's work), unless --parallel.
    let mut busy = None;
    for r in shared::running::list(&paths.state_dir) {
        if r.claim_if_dead(&paths.state_dir) {
            let _ = ledger.append(&[r.died()]);
        } else if r.alive() && r.sandbox != "read-only" {
            // Compared as the real folders: a symlink to the project is the project.
            let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
            let (theirs, ours) = (real(Path::new(&r.cwd)), real(&plan.dir));
            if theirs.starts_with(&ours) || ours.starts_with(&theirs) {
                busy = Some(r);
            }
        }
    }
    if let Some(r) = busy
        && plan.sandbox.as_str() != "read-only"
        && !args.parallel
    {
        return Err(Error::with_code(
            format!(
                "another Codex run is still working on {} (pid {}, since {} UTC, \"{}\"): wait for it \
                 to finish; do not start another. To run both anyway, pass --parallel.",
                r.cwd,
                r.pid,
                r.started.format("%H:%M:%S"),
                r.prompt
            ),
            1,
        ));
    }
    let interrupts = Interrupts::install();
    let bin = shared::process::resolve_bin(&loaded.config.runner.codex_bin);
    let codex_home = codex_home();
    let state_dir = paths.state_dir.clone();
    let (mut results, catalog): (Vec<Result1>, _) = std::thread::scope(|scope| {
        // Whether codex knows the model is asked while it works, so that it costs the run
        // nothing (and, cached, nothing again until codex changes).
        let catalog = bin.as_ref().ok().map(|b| {
            let state_dir = &state_dir;
            scope.spawn(move || catalog::cached(state_dir, b, None, CATALOG_WAIT))
        });
        let handles: Vec<_> = plan
            .models
            .iter()
            .map(|(label, model)| {
                let (plan, prompt, ledger, interrupts, bin, codex_home) =
                    (&plan, &prompt, &ledger, &interrupts, &bin, &codex_home);
                scope.spawn(move || {
                    attempt(
                        plan,
                        *label,
                        model,
                        prompt,
                        ledger,
                        interrupts,
                        bin,
                        codex_home.as_deref(),
                    )
                })
            })
            .collect();
        let results = handles
            .into_iter()
            .map(|h| h.join().expect("attempt thread panicked"))
            .collect();
        (results, catalog.and_then(|h| h.join().ok()))
    });
    for r in &mut results {
        (r.in_catalog, r.model_note) = model_note(&r.model, catalog.as_ref(), r.said_fallback);
        if r.run_dir.join("result.json").is_file() {
            let _ = std::fs::write(
                r.run_dir.join("result.json"),
                serde_json::to_vec_pretty(&result_json(&plan, r)).unwrap_or_default(),
            );
        }
    }
    prune_runs(&paths.runs_dir(), loaded.config.runner.runs_keep);
    Ok(report(&plan, &results))
}

#[allow(clippy::too_many_arguments)]
fn attempt(
    plan: &Plan,
    label: Option<&'static str>,
    model: &str,
    prompt: &str,
    ledger: &Ledger,
    interrupts: &Interrupts,
    bin: &Result<PathBuf, String>,
    codex_home: Option<&Path>,
) -> Result1 {
    let id = run_id(label);
    let run_dir = ledger.paths().runs_dir().join(&id);
    let session = plan.session.as_deref();
    let sandbox = plan.sandbox.as_str().to_owned();
    let work_type = plan.work_type.map(|w| w.as_str().to_owned());
    let cwd = plan.dir.display().to_string();
    let mut result = Result1 {
        attempt: id.clone(),
        label,
        model: model.to_owned(),
        outcome: Outcome::Error,
        exit_code: Outcome::Error.exit_code(plan.fail_closed),
        error: None,
        tokens: Tokens::default(),
        thread_id: None,
        duration_ms: 0,
        answer: None,
        run_dir: run_dir.clone(),
        rate_limits: None,
        record_error: None,
        said_fallback: false,
        in_catalog: None,
        model_note: None,
    };
    let started = Event::now(
        session,
        Body::AttemptStarted(AttemptStarted {
            attempt: id.clone(),
            model: model.to_owned(),
            sandbox: sandbox.clone(),
            work_type: work_type.clone(),
            cwd: cwd.clone(),
            pid: std::process::id(),
            resumed_from: None,
        }),
    );
    if let Err(e) = create_private_dir(&run_dir) {
        result.error = Some(format!("cannot create {}: {e}", run_dir.display()));
        return result;
    }
    // While it runs, the guard tells Claude to wait for it (removed when this function returns,
    // after the finish is recorded). Without the mark no one could tell it is running, nor close
    // it if this process is killed: then codex is not run.
    let _running = match shared::running::Running::of_this_process(
        &id,
        session,
        model,
        &sandbox,
        work_type.as_deref(),
        &cwd,
        prompt,
    )
    .mark(&ledger.paths().state_dir)
    {
        Ok(m) => m,
        Err(e) => {
            result.error = Some(format!(
                "cannot mark the attempt as running, so codex was not run: {e}"
            ));
            return result;
        }
    };
    if let Err(e) = ledger.append(&[started])
        && !e.recorded()
    {
        // Without a record the attempt would prove nothing and unlock nothing: do not run it.
        result.error = Some(format!(
            "cannot record the attempt, so codex was not run: {e}"
        ));
        return result;
    }
    let finished = match bin {
        Ok(bin) => {
            let spec = ExecSpec {
                model: model.to_owned(),
                sandbox: plan.sandbox,
                dir: plan.dir.clone(),
                effort: plan.effort.clone(),
                last_message: run_dir.join("last.txt"),
                prompt: prompt.to_owned(),
                resume: None,
            };
            supervise::run(
                &Job {
                    bin,
                    spec: &spec,
                    timeout: plan.timeout,
                    grace: plan.grace,
                    run_dir: &run_dir,
                    label,
                },
                interrupts,
            )
        }
        Err(why) => supervise::Finished {
            obs: Default::default(),
            ending: Ending {
                missing: true,
                spawn_error: Some(format!(
                    "codex not found: {why}; install it (npm install -g @openai/codex) or set {}",
                    env::CODEX_BIN
                )),
                ..Ending::default()
            },
            stderr_tail: String::new(),
            duration: Duration::ZERO,
        },
    };
    let (outcome, error) = classify(&finished.obs, &finished.ending, &finished.stderr_tail);
    result.outcome = outcome;
    result.exit_code = outcome.exit_code(plan.fail_closed);
    result.error = error;
    result.tokens = finished.obs.usage.map(|u| u.tokens()).unwrap_or_default();
    result.thread_id = finished.obs.thread_id.clone();
    result.said_fallback = finished.obs.fallback_model.is_some()
        || catalog::fallback_model(&finished.stderr_tail).is_some();
    result.duration_ms = finished.duration.as_millis() as u64;
    // codex's last message, bounded (16 MiB) and never from anything but a regular file.
    result.answer = shared::fsutil::read_regular_text(&run_dir.join("last.txt"), 16 << 20)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| finished.obs.last_message.clone());
    if let (Some(home), Some(tid)) = (codex_home, result.thread_id.as_deref()) {
        result.rate_limits = rollout::find_rollout(home, tid, Utc::now())
            .and_then(|p| rollout::last_snapshot(&p, 8 << 20).ok().flatten());
    }
    let mut events = vec![Event::now(
        session,
        Body::AttemptFinished(Box::new(AttemptFinished {
            unconfigured_codex: unconfigured_codex(
                &ledger.paths().config_file,
                bin,
                session
                    .and_then(|id| ledger.session(id))
                    .and_then(|s| s.first_event),
            ),
            attempt: id,
            outcome,
            exit_code: result.exit_code,
            codex_exit: finished.ending.exit_code,
            model: model.to_owned(),
            sandbox,
            work_type,
            cwd,
            duration_ms: result.duration_ms,
            tokens: result.tokens,
            thread_id: result.thread_id.clone(),
            error: result.error.clone(),
            resumed_from: None,
        })),
    )];
    if let Some(snap) = &result.rate_limits {
        events.push(Event::now(session, Body::RateLimits(snap.clone())));
    }
    if let Err(e) = ledger.append(&events) {
        if e.recorded() {
            eprintln!("offload: warning: the attempt is {e}");
        } else {
            result.record_error = Some(format!("the attempt ran but could not be recorded: {e}"));
        }
    }
    let _ = std::fs::write(
        run_dir.join("result.json"),
        serde_json::to_vec_pretty(&result_json(plan, &result)).unwrap_or_default(),
    );
    result
}

/// Print the answer(s) and the summary line; return the exit code.
fn report(plan: &Plan, results: &[Result1]) -> u8 {
    let outcome = combined(results);
    let recorded = results.iter().all(|r| r.record_error.is_none());
    let code = if recorded {
        outcome.exit_code(plan.fail_closed)
    } else {
        Outcome::Error.exit_code(plan.fail_closed)
    };
    let mut stdout = std::io::stdout().lock();
    if plan.json {
        let value = if results.len() == 1 {
            result_json(plan, &results[0])
        } else {
            json!({
                "outcome": outcome,
                "exit_code": code,
                "attempts": results.iter().map(|r| result_json(plan, r)).collect::<Vec<_>>(),
            })
        };
        let _ = writeln!(stdout, "{value}");
    } else {
        for r in results {
            if results.len() > 1 {
                let _ = writeln!(
                    stdout,
                    "=== {} ({}): {} ===",
                    r.model,
                    r.label.unwrap_or(""),
                    r.outcome
                );
            }
            if let Some(a) = &r.answer {
                let _ = writeln!(stdout, "{}", a.trim_end());
            }
        }
    }
    let _ = stdout.flush();
    for r in results {
        eprintln!("{}", summary_line(plan, r));
        if let Some(e) = &r.record_error {
            eprintln!("offload: {e}");
        }
    }
    code
}

/// Whether codex knows `model`, and what the summary line says when it may not have served it
/// well: the catalog lacks it, or codex said it has no metadata for it. A catalog that could
/// not be read says nothing.
fn model_note(
    model: &str,
    catalog: Option<&Result<Catalog, String>>,
    said_fallback: bool,
) -> (Option<bool>, Option<String>) {
    let said = || "codex has no metadata for it: fallback metadata".to_owned();
    match catalog {
        Some(Ok(c)) if !c.knows(model) => (
            Some(false),
            Some(format!("not in {}'s catalog: fallback metadata", c.codex())),
        ),
        Some(Ok(_)) => (Some(true), said_fallback.then(said)),
        _ => (None, said_fallback.then(said)),
    }
}

fn summary_line(plan: &Plan, r: &Result1) -> String {
    use shared::format::{millis, tokens};
    let mark = match r.outcome {
        Outcome::Success => "✓",
        Outcome::Interrupted => "■",
        _ => "✗",
    };
    let t = &r.tokens;
    let model = match &r.model_note {
        Some(note) => format!("{} ({note})", r.model),
        None => r.model.clone(),
    };
    let mut line = format!(
        "offload: {mark} {} · {} · {} · {} · tokens {} (in {}, cached {}, out {}, reasoning {})",
        r.outcome,
        model,
        plan.sandbox,
        millis(r.duration_ms),
        tokens(t.total),
        tokens(t.input),
        tokens(t.cached_input),
        tokens(t.output),
        tokens(t.reasoning),
    );
    if plan.session.is_none() {
        line.push_str(" · no session");
    }
    line.push_str(&format!(" · exit {}", r.exit_code));
    if let Some(e) = &r.error {
        line.push_str(&format!(" · {e}"));
        line.push_str(&format!(" · logs {}", r.run_dir.display()));
    }
    line
}

fn result_json(plan: &Plan, r: &Result1) -> serde_json::Value {
    json!({
        "attempt": r.attempt,
        "outcome": r.outcome,
        "exit_code": r.exit_code,
        "model": r.model,
        "model_in_catalog": r.in_catalog,
        "model_note": r.model_note,
        "sandbox": plan.sandbox,
        "work_type": plan.work_type.map(|w| w.as_str()),
        "dir": plan.dir,
        "session": plan.session,
        "duration_ms": r.duration_ms,
        "tokens": r.tokens,
        "thread_id": r.thread_id,
        "error": r.error,
        "answer": r.answer,
        "run_dir": r.run_dir,
        "rate_limits": r.rate_limits,
        "recorded": r.record_error.is_none(),
    })
}

/// One outcome for the whole run: success if any attempt succeeded; interrupted if the user
/// stopped it; otherwise the most telling failure (limits first: they say when to try again).
fn combined(results: &[Result1]) -> Outcome {
    let has = |o: Outcome| results.iter().any(|r| r.outcome == o);
    if has(Outcome::Success) {
        return Outcome::Success;
    }
    [
        Outcome::Interrupted,
        Outcome::Limited,
        Outcome::Missing,
        Outcome::Timeout,
        Outcome::Failed,
    ]
    .into_iter()
    .find(|o| has(*o))
    .unwrap_or(Outcome::Error)
}

/// `20261124T063100.123Z-4242` (sortable by time), with a label for `--dual`.
fn run_id(label: Option<&str>) -> String {
    let ts = Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
    match label {
        Some(l) => format!("{ts}-{}-{l}", std::process::id()),
        None => format!("{ts}-{}", std::process::id()),
    }
}

fn codex_home() -> Option<PathBuf> {
    std::env::var_os(env::CODEX_HOME)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| directories::BaseDirs::new().map(|b| b.home_dir().join(".codex")))
}

/// Keep the newest `keep` finished run folders (those with a `result.json`); older ones go.
/// Folders of runs still in progress are never touched.
fn prune_runs(dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    // A finished run has its result; a run folder without one whose run is over (unchanged for
    // longer than the longest timeout) belongs to a run that was killed: it goes too.
    let over = std::time::Duration::from_secs(25 * 3600);
    let mut done: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.join("result.json").exists()
                || std::fs::metadata(p)
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > over)
        })
        .collect();
    if done.len() <= keep {
        return;
    }
    done.sort();
    for p in &done[..done.len() - keep] {
        let _ = std::fs::remove_dir_all(p);
    }
}

/// The codex this attempt ran, when it is not the one the user configured and it was run from
/// inside Claude Code: such an attempt is recorded but unlocks nothing, since Claude could point
/// it at a script that "succeeds" (a `CODEX_BIN`, or a `codex` put first on `PATH`). The one
/// configured is `runner.codex_bin` of the config file, or the `CODEX_BIN` Claude Code itself was
/// started with, found on the `PATH` Claude Code was started with.
fn unconfigured_codex(
    config_file: &Path,
    bin: &Result<PathBuf, String>,
    session_start: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<String> {
    shared::claude_marker::inside_claude_code()?;
    let used = bin.as_ref().ok().cloned();
    // codex's own home (its provider, its server) chosen from inside Claude Code: a real codex
    // talking to a server Claude runs would "succeed" at anything.
    if let Some(started) = shared::claude_marker::claude_started_with("CODEX_HOME") {
        use std::os::unix::ffi::OsStrExt;
        let now = std::env::var_os("CODEX_HOME").map(|v| v.as_bytes().to_vec());
        if now != started {
            return Some(format!(
                "{} with CODEX_HOME={} (Claude Code started with {})",
                used.as_ref()
                    .map_or_else(|| "codex".into(), |p| p.display().to_string()),
                now.map_or_else(
                    || "(unset)".into(),
                    |v| String::from_utf8_lossy(&v).into_owned()
                ),
                started.map_or_else(
                    || "none".into(),
                    |v| String::from_utf8_lossy(&v).into_owned()
                )
            ));
        }
    }
    let started = |name: &str| {
        shared::claude_marker::claude_started_with(name)
            .flatten()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
    };
    let configured = started(env::CODEX_BIN)
        .unwrap_or_else(|| Config::load_file(config_file).config.runner.codex_bin);
    let path = started("PATH").map_or_else(
        || std::env::var_os("PATH").unwrap_or_default(),
        std::ffi::OsString::from,
    );
    let expected = shared::process::resolve_bin_in(&configured, &path).ok();
    let real = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    if used.is_some() && used.as_ref().map(real) == expected.as_ref().map(real) {
        // The configured codex, unless its file changed after Claude Code started: a command
        // may have copied another program over it.
        let file = used.as_ref().map(real)?;
        let changed = std::fs::metadata(&file).ok().map(|m| {
            use std::os::unix::fs::MetadataExt;
            std::time::UNIX_EPOCH
                + std::time::Duration::new(
                    m.ctime().max(0) as u64,
                    m.ctime_nsec().clamp(0, 999_999_999) as u32,
                )
        })?;
        // Since the Claude Code process above started, or (a run detached from it) since
        // the session's first record.
        let claude_start = shared::claude_marker::claude_ancestor()
            .and_then(shared::process::started_at)
            .or_else(|| session_start.map(std::time::SystemTime::from))?;
        if changed > claude_start {
            return Some(format!(
                "{} (changed after this Claude Code session started: start a new session after upgrading codex)",
                file.display()
            ));
        }
        return None;
    }
    Some(used.map_or_else(|| "(none found)".to_string(), |p| p.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["offload", "run"];
        full.extend_from_slice(argv);
        match crate::cli::Cli::parse_from(full).command {
            crate::cli::Command::Run(a) => a,
            _ => unreachable!(),
        }
    }

    fn plan(argv: &[&str]) -> Result<Plan, Error> {
        let dirs = ["/w", "/w/sub", "/other"];
        resolve(
            &args(argv),
            &RunnerConfig::default(),
            Path::new("/w"),
            |p| dirs.iter().any(|d| Path::new(d) == p),
            [None, None],
        )
    }

    #[test]
    fn standard_form() {
        let p = plan(&["fix it", "read-only", "sub"]).unwrap();
        assert_eq!(
            (p.sandbox, p.dir.as_path(), p.models[0].1.as_str()),
            (Sandbox::ReadOnly, Path::new("/w/sub"), "gpt-5.4")
        );
        let p = plan(&["fix it"]).unwrap();
        assert_eq!(
            (p.sandbox, p.dir.as_path()),
            (Sandbox::WorkspaceWrite, Path::new("/w"))
        );
        assert!(p.fail_closed);
        assert_eq!(p.timeout, Duration::from_secs(600));
    }

    #[test]
    fn legacy_forms() {
        let p = plan(&["fix it", "/other", "read-only"]).unwrap();
        assert_eq!(
            (p.sandbox, p.dir.as_path()),
            (Sandbox::ReadOnly, Path::new("/other"))
        );
        let p = plan(&["fix it", "sub"]).unwrap();
        assert_eq!(
            (p.sandbox, p.dir.as_path()),
            (Sandbox::WorkspaceWrite, Path::new("/w/sub"))
        );
    }

    #[test]
    fn bad_positionals_are_usage_errors() {
        let e = plan(&["fix it", "nowhere"]).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("neither a sandbox"), "{e}");
        assert!(plan(&["fix it", "read-only", "missing-dir"]).is_err());
        assert!(plan(&["fix it", "/other", "wide-open"]).is_err());
        assert!(plan(&["  "]).is_err());
        assert!(plan(&["x", "--timeout", "0"]).is_err());
        assert!(plan(&["x", "--fail-closed", "maybe"]).is_err());
    }

    #[test]
    fn routing_and_precedence() {
        let m = |argv: &[&str]| plan(argv).unwrap().models[0].1.clone();
        assert_eq!(m(&["x", "--work-type", "code"]), "gpt-5.3-codex");
        assert_eq!(m(&["x", "--work-type", "explore"]), "gpt-5.3-codex");
        assert_eq!(m(&["x", "--work-type", "analysis"]), "gpt-5.4");
        assert_eq!(m(&["x", "--work-type", "code", "--model", "o9"]), "o9");
        let p = plan(&["x", "--work-type", "explore"]).unwrap();
        assert_eq!(p.sandbox, Sandbox::ReadOnly);
        let p = plan(&["x", "--dual"]).unwrap();
        assert_eq!(p.sandbox, Sandbox::ReadOnly);
        assert_eq!(
            p.models,
            vec![
                (Some("code"), "gpt-5.3-codex".to_string()),
                (Some("logic"), "gpt-5.4".to_string())
            ]
        );
        let p = plan(&[
            "x",
            "--fail-closed=0",
            "--timeout",
            "10m",
            "--effort",
            "low",
        ])
        .unwrap();
        assert!(!p.fail_closed);
        assert_eq!(p.timeout, Duration::from_secs(600));
        assert_eq!(p.effort, "low");
        assert!(plan(&["x", "--fail-closed"]).unwrap().fail_closed);
        assert_eq!(plan(&["-"]).unwrap().prompt, Prompt::Stdin);
    }

    #[test]
    fn a_model_codex_does_not_know_is_named() {
        let c = Ok(Catalog {
            version: Some("0.171.0".into()),
            models: catalog::parse(br#"{"models":[{"slug":"gpt-6.2-sol"}]}"#).unwrap(),
        });
        assert_eq!(
            model_note("gpt-5.4", Some(&c), true),
            (
                Some(false),
                Some("not in codex 0.171.0's catalog: fallback metadata".into())
            )
        );
        assert_eq!(
            model_note("gpt-6.2-sol", Some(&c), false),
            (Some(true), None)
        );
        // codex's own word counts when the catalog cannot tell.
        let said = Some("codex has no metadata for it: fallback metadata".to_string());
        assert_eq!(
            model_note("gpt-6.2-sol", Some(&c), true),
            (Some(true), said.clone())
        );
        let unreadable = Err("exit 2".to_string());
        assert_eq!(model_note("x", Some(&unreadable), true), (None, said));
        assert_eq!(model_note("x", Some(&unreadable), false), (None, None));
        assert_eq!(model_note("x", None, false), (None, None));
    }

    #[test]
    fn session_precedence() {
        let with = |flag: Option<&str>, env: [Option<&str>; 2]| {
            let mut a = args(&["x"]);
            a.session = flag.map(str::to_owned);
            resolve(
                &a,
                &RunnerConfig::default(),
                Path::new("/"),
                |_| true,
                env.map(|e| e.map(str::to_owned)),
            )
            .unwrap()
            .session
        };
        assert_eq!(
            with(Some("f"), [Some("c"), Some("o")]).as_deref(),
            Some("f")
        );
        assert_eq!(with(None, [Some("c"), Some("o")]).as_deref(), Some("c"));
        assert_eq!(with(None, [None, Some("o")]).as_deref(), Some("o"));
        assert_eq!(with(None, [None, None]), None);
    }
}
