//! `offload run`: resolve what to run from flags, environment and config; record the attempt;
//! run codex under supervision; classify; record the result; answer with the exit-code
//! contract (see `shared::outcome`). The summary line names a model codex has no metadata for
//! (not in its catalog, or codex said so), since codex then runs it on fallback metadata.
//!
//! `--resume` continues a codex thread (see `shared::codex::resume`): the thread is found
//! before anything is recorded, with what it had used so far, so that the attempt records the
//! new turn's own tokens; the summary line names the thread.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::Utc;
use serde_json::json;

use shared::codex::catalog::{self, Catalog};
use shared::codex::command::{ExecSpec, Sandbox};
use shared::codex::resume::{self, Prior, PriorSource, Target, ThreadRecord, ThreadScan};
use shared::codex::{rollout, trust};
use shared::config::{Config, RunnerConfig, check_effort, check_model_name, limits, parse_bool};
use shared::env;
use shared::fsutil::create_private_dir;
use shared::ledger::{
    AttemptFinished, AttemptStarted, Body, Event, Ledger, Line, Tokens, TraceRecord,
};
use shared::outcome::{Ending, Outcome, classify};
use shared::paths::Paths;
use shared::telemetry::trace::TraceParent;

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
    /// `--resume`: the thread to continue, as given.
    pub resume: Option<Target>,
    /// The thread found for `resume`, before anything runs (see [`find_thread`]).
    pub resumed: Option<Resumed>,
}

/// The thread a run continues, and what it had used before.
#[derive(Clone, Debug, PartialEq)]
pub struct Resumed {
    pub thread_id: String,
    pub prior: Prior,
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
    // The flags are checked here, as `offload setup --code-model` checks its; the config and
    // the environment were checked when loaded (a name codex cannot take there was reported and
    // its default used).
    let flag_model = args
        .model
        .as_deref()
        .map(|m| check_model_name(m).map_err(|e| Error::usage(format!("--model: {e}"))))
        .transpose()?;
    let effort = match args.effort.as_deref() {
        Some(e) => check_effort(e).map_err(|e| Error::usage(format!("--effort: {e}")))?,
        None => cfg.effort.clone(),
    };
    let models = if args.dual {
        vec![
            (Some("code"), cfg.model_code.clone()),
            (Some("logic"), cfg.model_logic.clone()),
        ]
    } else {
        let model = flag_model
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
    if args.dual && args.resume.is_some() {
        return Err(Error::usage(
            "--resume continues one thread: it cannot be combined with --dual",
        ));
    }
    let resume = args
        .resume
        .as_deref()
        .map(Target::parse)
        .transpose()
        .map_err(Error::usage)?;
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
        effort,
        timeout,
        grace,
        fail_closed,
        session,
        json: args.json,
        resume,
        resumed: None,
    })
}

/// The largest prompt `offload run -` reads from stdin, in bytes (16 MiB: far more than a
/// model's context holds; a larger input is a mistake, like `< /dev/zero`, and is refused
/// before it fills memory).
pub const MAX_PROMPT: usize = 16 << 20;

/// The prompt from `input` (stdin): at most [`MAX_PROMPT`] bytes are read, and a larger,
/// empty or non-UTF-8 one is a usage error.
fn read_prompt(input: impl Read) -> Result<String, Error> {
    let mut bytes = Vec::new();
    input
        .take(MAX_PROMPT as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::usage(format!("cannot read the prompt from stdin: {e}")))?;
    if bytes.len() > MAX_PROMPT {
        return Err(Error::usage(format!(
            "the prompt from stdin is larger than {} MiB, the most offload passes to codex: \
             give Codex the file to read instead (name its path in the prompt)",
            MAX_PROMPT >> 20
        )));
    }
    let s = String::from_utf8(bytes)
        .map_err(|_| Error::usage("the prompt from stdin is not UTF-8 text"))?;
    if s.trim().is_empty() {
        return Err(Error::usage("the prompt from stdin is empty"));
    }
    Ok(s)
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
    /// The attempt's own tokens (for a resumed thread: its new turn's).
    tokens: Tokens,
    /// What codex reported (for a resumed thread: the thread's total so far).
    reported: Tokens,
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
    let mut plan = resolve(
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
            read_prompt(std::io::stdin().lock())?
        }
    };
    let ledger = Ledger::new(paths.clone());
    let codex_home = codex_home();
    if let Some(target) = plan.resume.clone() {
        let (resumed, record) = find_thread(&ledger, &target, &plan, codex_home.as_deref())?;
        // A thread keeps its model unless told otherwise: codex compacts a thread resumed
        // with another model, and warns that it may serve worse.
        if let (Some(r), None, None) = (record, &args.model, args.work_type) {
            plan.models = vec![(None, r.model)];
        }
        plan.resumed = Some(resumed);
    }
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
                 to finish; do not start another. To run both anyway, pass --parallel (the user's call: from Claude \
                 Code the guard holds it while the session's own run works).",
                r.cwd,
                r.pid,
                r.started.format("%H:%M:%S"),
                r.prompt
            ),
            1,
        ));
    }
    if args.background {
        return crate::jobs::start(&args, &plan, &prompt, &paths);
    }
    let interrupts = Interrupts::install();
    let telemetry = Telemetry::new(&loaded.config.telemetry, &plan.dir);
    let bin = shared::process::resolve_bin(&loaded.config.runner.codex_bin);
    let state_dir = paths.state_dir.clone();
    // Whether codex knows the model is asked while it works, so that it costs the run nothing
    // (and, cached, nothing again until codex changes); an answer not there a second after the
    // run ends is not waited for (that question is ended with the run).
    let catalog_rx = bin.as_ref().ok().map(|b| {
        let (tx, rx) = std::sync::mpsc::channel();
        let (state_dir, b) = (state_dir.clone(), b.clone());
        std::thread::spawn(move || {
            // Through the reaper, as codex's run: a killed run takes the question with it.
            let start = |bin: &Path| {
                crate::supervise::reaped(bin, Duration::from_secs(1))
                    .unwrap_or_else(|| std::process::Command::new(bin))
            };
            let _ = tx.send(catalog::cached_with(
                &state_dir,
                &b,
                None,
                CATALOG_WAIT,
                &start,
            ));
        });
        rx
    });
    let mut results: Vec<Result1> = std::thread::scope(|scope| {
        let handles: Vec<_> = plan
            .models
            .iter()
            .map(|(label, model)| {
                let (plan, prompt, ledger, interrupts, bin, codex_home, telemetry) = (
                    &plan,
                    &prompt,
                    &ledger,
                    &interrupts,
                    &bin,
                    &codex_home,
                    &telemetry,
                );
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
                        telemetry,
                    )
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("attempt thread panicked"))
            .collect()
    });
    // A second at most past the run (the catalog usually answers long before codex does).
    let catalog = catalog_rx.and_then(|rx| rx.recv_timeout(Duration::from_secs(1)).ok());
    if catalog.is_none() {
        shared::process::end_tagged(shared::env::OFFLOAD_PROBE, &catalog::probe_tag());
    }
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
    crate::jobs::record_result(&combined_json(&plan, &results));
    let code = report(&plan, &results);
    // What was recorded goes to the team's collector from a detached flush: a few `stat`s and
    // a fork here, the network there (shared::telemetry).
    telemetry.kick(&paths);
    Ok(code)
}

/// The export settings of this run (resolved once) and the trace it was started in.
pub struct Telemetry {
    settings: shared::telemetry::Settings,
    parent: Option<TraceParent>,
    state: Option<String>,
}

impl Telemetry {
    fn new(config: &shared::config::TelemetryConfig, project: &Path) -> Telemetry {
        Telemetry {
            settings: shared::telemetry::Settings::from_env(config, Some(project)),
            parent: env::var("TRACEPARENT").and_then(|t| TraceParent::parse(&t)),
            state: env::var("TRACESTATE").filter(|s| s.len() <= 512),
        }
    }

    /// A new span for an attempt: in the trace offload was started in, or a new one.
    fn span(&self) -> TraceRecord {
        use shared::telemetry::{otlp::hex, trace::random};
        let trace_id = self.parent.map_or_else(random::<16>, |p| p.trace_id);
        TraceRecord {
            trace_id: hex(&trace_id),
            span_id: hex(&random::<8>()),
            parent_span_id: self.parent.map(|p| hex(&p.span_id)),
            flags: self.parent.map_or(1, |p| p.flags),
            state: self.state.clone(),
        }
    }

    /// `TRACEPARENT` for codex: the attempt's span when its traces are exported (so codex's
    /// spans sit under it); otherwise codex keeps the one offload was given.
    fn for_codex(&self, span: &TraceRecord) -> Option<String> {
        use shared::telemetry::trace::unhex;
        self.settings.traces.as_ref()?;
        Some(
            TraceParent {
                trace_id: unhex::<16>(&span.trace_id)?,
                span_id: unhex::<8>(&span.span_id)?,
                flags: span.flags,
            }
            .header(),
        )
    }

    fn kick(&self, paths: &Paths) {
        if let Ok(exe) = std::env::current_exe() {
            shared::telemetry::export::kick(paths, &self.settings, &exe);
        }
    }
}

/// The run's outcome and exit code: the combined outcome's, or `error`'s when an attempt ran
/// but could not be recorded.
fn ending(plan: &Plan, results: &[Result1]) -> (Outcome, u8) {
    let outcome = combined(results);
    let recorded = results.iter().all(|r| r.record_error.is_none());
    let code = if recorded {
        outcome.exit_code(plan.fail_closed)
    } else {
        Outcome::Error.exit_code(plan.fail_closed)
    };
    (outcome, code)
}

/// `--json`'s result: one attempt's, or `--dual`'s outcome with both.
fn combined_json(plan: &Plan, results: &[Result1]) -> serde_json::Value {
    if results.len() == 1 {
        return result_json(plan, &results[0]);
    }
    let (outcome, code) = ending(plan, results);
    json!({
        "outcome": outcome,
        "exit_code": code,
        "attempts": results.iter().map(|r| result_json(plan, r)).collect::<Vec<_>>(),
    })
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
    telemetry: &Telemetry,
) -> Result1 {
    let id = run_id(label);
    let trace = telemetry.span();
    let run_dir = ledger.paths().runs_dir().join(&id);
    let session = plan.session.as_deref();
    let sandbox = plan.sandbox.as_str().to_owned();
    let work_type = plan.work_type.map(|w| w.as_str().to_owned());
    let cwd = plan.dir.display().to_string();
    let resumed_from = plan.resumed.as_ref().map(|r| r.thread_id.clone());
    let mut result = Result1 {
        attempt: id.clone(),
        label,
        model: model.to_owned(),
        outcome: Outcome::Error,
        exit_code: Outcome::Error.exit_code(plan.fail_closed),
        error: None,
        tokens: Tokens::default(),
        reported: Tokens::default(),
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
            resumed_from: resumed_from.clone(),
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
                resume: resumed_from.clone(),
            };
            supervise::run(
                &Job {
                    attempt: &id,
                    bin,
                    spec: &spec,
                    timeout: plan.timeout,
                    grace: plan.grace,
                    run_dir: &run_dir,
                    label,
                    traceparent: telemetry.for_codex(&trace),
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
    let (mut outcome, mut error) = classify(&finished.obs, &finished.ending, &finished.stderr_tail);
    if outcome == Outcome::Interrupted && crate::jobs::cancel_requested() {
        outcome = Outcome::Cancelled;
        error = Some("cancelled by `offload cancel`".into());
    }
    result.outcome = outcome;
    result.exit_code = outcome.exit_code(plan.fail_closed);
    result.error = error;
    result.reported = finished.obs.usage.map(|u| u.tokens()).unwrap_or_default();
    result.thread_id = finished.obs.thread_id.clone();
    result.tokens = own_tokens(
        plan.resumed.as_ref(),
        result.thread_id.as_deref(),
        result.reported,
    );
    result.said_fallback = finished.obs.fallback_model.is_some()
        || catalog::fallback_model(&finished.stderr_tail).is_some();
    result.duration_ms = finished.duration.as_millis() as u64;
    // codex's last message, bounded (16 MiB) and never from anything but a regular file.
    result.answer = shared::fsutil::read_regular_text(&run_dir.join("last.txt"), 16 << 20)
        .filter(|s| !s.trim().is_empty())
        .or_else(|| finished.obs.last_message.clone());
    if let (Some(home), Some(tid)) = (codex_home, result.thread_id.as_deref()) {
        result.rate_limits = resume::rollout_of(home, tid, None)
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
            resumed_from,
            job: crate::jobs::own_job_id(),
            trace: Some(trace),
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
    let (_, code) = ending(plan, results);
    let mut stdout = std::io::stdout().lock();
    if plan.json {
        let _ = writeln!(stdout, "{}", combined_json(plan, results));
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
        Outcome::Interrupted | Outcome::Cancelled => "■",
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
    if let Some(r) = &plan.resumed {
        line.push_str(&format!(" · continued thread {}", r.thread_id));
        if r.prior.source == PriorSource::Unknown {
            line.push_str(" (its earlier tokens unknown: counted in full)");
        }
    }
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
        "resume": plan.resumed.as_ref().map(|t| json!({
            "thread_id": t.thread_id,
            "tokens_before": t.prior.tokens,
            "tokens_before_from": t.prior.source,
            "tokens_reported": r.reported,
        })),
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
        Outcome::Cancelled,
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

/// The attempt's own tokens from what codex reported: for a resumed thread, the report less
/// what the thread had used before. A run that ended up on another thread than the one asked
/// for (codex would have started a new one) is counted as reported.
fn own_tokens(resumed: Option<&Resumed>, thread_id: Option<&str>, reported: Tokens) -> Tokens {
    match resumed {
        Some(r) if thread_id.is_none_or(|t| t == r.thread_id) => {
            resume::turn_own(reported, r.prior.tokens)
        }
        _ => reported,
    }
}

/// The thread `--resume` names, with what it had used so far (from its rollout, else from the
/// ledger), and the ledger's newest record of it. `last` with nothing recorded for this
/// session or folder is a usage error.
fn find_thread(
    ledger: &Ledger,
    target: &Target,
    plan: &Plan,
    codex_home: Option<&Path>,
) -> Result<(Resumed, Option<ThreadRecord>), Error> {
    let session = plan.session.as_deref();
    let projects = project_names(&plan.dir);
    let want = match target {
        Target::Thread(id) => Some(id.as_str()),
        Target::Last => None,
    };
    let scan = match scan_threads(ledger, session, projects.clone(), want) {
        Ok(scan) => scan,
        // A thread named by its id can run without the ledger's help (its rollout has its
        // usage); `last` cannot be found without it.
        Err(e) if want.is_some() => {
            eprintln!("offload: warning: cannot read the ledger: {e}");
            ThreadScan::default()
        }
        Err(e) => {
            return Err(Error::with_code(
                format!("cannot read the ledger to find the last thread: {e}"),
                1,
            ));
        }
    };
    let (thread_id, record) = pick_thread(target, &scan, session, &plan.dir)?;
    let rollout = codex_home
        .and_then(|home| resume::rollout_of(home, &thread_id, record.as_ref().map(|r| r.at)));
    let prior = Prior::read(rollout.as_deref(), || {
        if want.is_some() {
            (scan.wanted_tokens, scan.wanted_attempts)
        } else {
            scan_threads(ledger, None, Vec::new(), Some(&thread_id))
                .map(|s| (s.wanted_tokens, s.wanted_attempts))
                .unwrap_or_default()
        }
    });
    Ok((Resumed { thread_id, prior }, record))
}

/// One pass over the ledger (in parallel parts, as `offload stats` reads it).
fn scan_threads(
    ledger: &Ledger,
    session: Option<&str>,
    projects: Vec<String>,
    want: Option<&str>,
) -> Result<ThreadScan, shared::ledger::LedgerError> {
    let parts = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    let (folds, _) = ledger.fold_parts(
        parts,
        || ThreadScan::new(session, projects.clone(), want),
        |scan, line| {
            if let Line::Event(ev, _) = line {
                scan.see(ev);
            }
        },
    )?;
    let mut folds = folds.into_iter();
    let mut scan = folds
        .next()
        .unwrap_or_else(|| ThreadScan::new(session, projects.clone(), want));
    folds.for_each(|later| scan.merge(later));
    Ok(scan)
}

/// The thread to continue: the one named, or for `last` this session's newest, else this
/// folder's; none is a usage error that says how to start one.
fn pick_thread(
    target: &Target,
    scan: &ThreadScan,
    session: Option<&str>,
    dir: &Path,
) -> Result<(String, Option<ThreadRecord>), Error> {
    match target {
        Target::Thread(id) => Ok((id.clone(), scan.wanted.clone())),
        Target::Last => match scan.last() {
            Some(r) => Ok((r.thread_id.clone(), Some(r.clone()))),
            None => {
                let whose = match session {
                    Some(s) => format!(
                        "for this Claude Code session ({s}) nor for {}",
                        dir.display()
                    ),
                    None => format!(
                        "for {} (and no Claude Code session is known)",
                        dir.display()
                    ),
                };
                Err(Error::usage(format!(
                    "--resume last: offload has recorded no Codex thread {whose}. Start one with \
                     `offload run '<prompt>'`, or name a thread: --resume <thread-id> (the \
                     `thread_id` of an earlier run, in `offload run --json` or the ledger)"
                )))
            }
        },
    }
}

/// The spellings of `dir` an attempt's `cwd` may have been recorded with: as given (the
/// runner records it lexically tidied), and its real path.
fn project_names(dir: &Path) -> Vec<String> {
    let mut names = vec![dir.display().to_string()];
    if let Ok(real) = std::fs::canonicalize(dir) {
        let real = real.display().to_string();
        if !names.contains(&real) {
            names.push(real);
        }
    }
    names
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
/// started with, found on the `PATH` Claude Code was started with. It also counts for nothing
/// when what decides what that codex runs or where it talks is not what Claude Code started
/// with (see [`trust`]): codex's home, the variables that load code or certificates or route
/// its traffic, the interpreter of its launcher; or when a file of its installation or its own
/// config changed after Claude Code started.
fn unconfigured_codex(
    config_file: &Path,
    bin: &Result<PathBuf, String>,
    session_start: Option<chrono::DateTime<chrono::Utc>>,
) -> Option<String> {
    shared::claude_marker::inside_claude_code()?;
    let used = bin.as_ref().ok().cloned();
    let label = used
        .as_ref()
        .map_or_else(|| "codex".into(), |p| p.display().to_string());
    // What the Claude Code above started with; for a background job's runner, what its
    // starter saw above it.
    let view = shared::claude_marker::ClaudeView::of_ancestor().or_else(crate::jobs::claude_view);
    // codex's own home (its provider, its server) chosen from inside Claude Code: a real codex
    // talking to a server Claude runs would "succeed" at anything.
    let own_home = std::env::var_os("HOME").map(PathBuf::from);
    if let Some(v) = &view {
        let now = std::env::var_os("CODEX_HOME").map(|v| v.to_string_lossy().into_owned());
        if now != v.codex_home {
            return Some(format!(
                "{label} with CODEX_HOME={} (Claude Code started with {})",
                now.unwrap_or_else(|| "(unset)".into()),
                v.codex_home.as_deref().unwrap_or("none")
            ));
        }
        // Without CODEX_HOME, codex's home is under HOME.
        let started = trust::codex_home(v.codex_home.as_deref(), v.home.as_deref().map(Path::new));
        let here = trust::codex_home(now.as_deref(), own_home.as_deref());
        if v.home.is_some() && here != started {
            return Some(format!(
                "{label} with HOME={} (its home {}, where Claude Code's is {})",
                own_home
                    .as_deref()
                    .unwrap_or(Path::new("(unset)"))
                    .display(),
                here.as_deref().unwrap_or(Path::new("(none)")).display(),
                started.as_deref().unwrap_or(Path::new("(none)")).display()
            ));
        }
        // What makes a program load other code or certificates, or sends its traffic
        // elsewhere: node's options, the dynamic loader's, codex's own, proxies, a base URL.
        if let Some(d) = trust::env_difference(&trust::own_watched_env(), &v.env) {
            return Some(format!(
                "{label} with {d}: start Claude Code with the variable if the user wants it"
            ));
        }
    }
    let configured = view
        .as_ref()
        .and_then(|v| v.codex_bin.clone())
        .unwrap_or_else(|| Config::load_file(config_file).config.runner.codex_bin);
    let path = view.as_ref().and_then(|v| v.path.clone()).map_or_else(
        || std::env::var_os("PATH").unwrap_or_default(),
        std::ffi::OsString::from,
    );
    let expected = shared::process::resolve_bin_in(&configured, &path).ok();
    let real = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
    if used.is_none() || used.as_ref().map(real) != expected.as_ref().map(real) {
        return Some(used.map_or_else(|| "(none found)".to_string(), |p| p.display().to_string()));
    }
    // The configured codex. A script launcher runs its interpreter: `#!/usr/bin/env node`
    // finds `node` on the run's PATH, which a command may have put another program first on.
    let file = used.as_ref().map(real)?;
    let run_path = std::env::var_os("PATH").unwrap_or_default();
    let interpreter = trust::interpreter_of(&file, &run_path);
    if let Some(start_path) = view.as_ref().and_then(|v| v.path.as_deref()) {
        let at_start = trust::interpreter_of(&file, std::ffi::OsStr::new(start_path));
        if interpreter != at_start {
            let show = |i: &Option<Result<PathBuf, String>>| match i {
                Some(Ok(p)) => p.display().to_string(),
                Some(Err(name)) => format!("no {name}"),
                None => "none".into(),
            };
            return Some(format!(
                "{} run by {} on this PATH, not {} as on the PATH Claude Code started with",
                file.display(),
                show(&interpreter),
                show(&at_start)
            ));
        }
    }
    // Unless a file of it changed after Claude Code started: a command may have copied
    // another program over it. Since the Claude Code process above started, or (a run
    // detached from it) since the session's first record.
    // A moment past it: a process's start is known only to the clock tick (rounded down, up
    // to 10 ms), so a file written just before Claude Code started (its setup, a test's) can
    // read as just after; no command Claude runs comes that early (its first tool call waits
    // for a model's answer).
    let claude_start = view
        .as_ref()
        .and_then(|v| v.started)
        .map(std::time::SystemTime::from)
        .or_else(|| session_start.map(std::time::SystemTime::from))?
        + std::time::Duration::from_millis(50);
    let upgrade = "start a new session after upgrading codex";
    let mut files = vec![file.clone()];
    if let Some(Ok(i)) = &interpreter {
        files.push(i.clone());
    }
    for f in &files {
        if trust::changed_at(f).is_some_and(|t| t > claude_start) {
            return Some(format!(
                "{} (changed after this Claude Code session started: {upgrade})",
                f.display()
            ));
        }
    }
    // An npm install runs more than its launcher: the launcher starts the platform package's
    // binary, found in the same `node_modules/@openai`. Every entry of it counts.
    if let Some(scope) = trust::npm_scope(&file) {
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        match trust::changed_under(&scope, claude_start, trust::MAX_ENTRIES, deadline) {
            Ok(None) => {}
            Ok(Some(p)) => {
                return Some(format!(
                    "{} (of {}'s installation, changed after this Claude Code session started: {upgrade})",
                    p.display(),
                    file.display()
                ));
            }
            Err(why) => {
                return Some(format!(
                    "{} (its installation cannot be checked: {why})",
                    file.display()
                ));
            }
        }
    }
    // codex's own config: its provider and server, its login, the variables of its `.env`.
    let codex_home = match &view {
        Some(v) => trust::codex_home(v.codex_home.as_deref(), v.home.as_deref().map(Path::new)),
        None => trust::codex_home(
            std::env::var("CODEX_HOME").ok().as_deref(),
            own_home.as_deref(),
        ),
    };
    for f in codex_home
        .as_deref()
        .map(trust::config_files)
        .unwrap_or_default()
    {
        if trust::changed_at(&f).is_some_and(|t| t > claude_start) {
            return Some(format!(
                "{label} with {} changed after this Claude Code session started (start a new session after changing codex's config)",
                f.display()
            ));
        }
    }
    None
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
        for argv in [
            ["x", "--model", ""],
            ["x", "--model", "a b"],
            ["x", "--effort", "bogus"],
        ] {
            let e = plan(&argv).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{argv:?}");
            assert!(e.to_string().starts_with(argv[1]), "{e}");
        }
        let p = plan(&["x", "--model", " o9 ", "--effort", "ultra"]).unwrap();
        assert_eq!((p.models[0].1.as_str(), p.effort.as_str()), ("o9", "ultra"));
    }

    #[test]
    fn the_prompt_from_stdin_is_read_bounded() {
        let fits = "p".repeat(MAX_PROMPT);
        assert_eq!(read_prompt(fits.as_bytes()).unwrap().len(), MAX_PROMPT);
        // An endless input stops one byte past the limit.
        let e = read_prompt(std::io::repeat(b'y')).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
        for (bad, why) in [(&b" \n"[..], "is empty"), (&b"\xff\xfe"[..], "not UTF-8")] {
            let e = read_prompt(bad).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
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

    const THREAD: &str = "01a22949-b252-7403-8c20-d445b026120d";

    #[test]
    fn resume_takes_a_thread_id_or_last_and_nothing_else() {
        assert_eq!(
            plan(&["x", "--resume", "last"]).unwrap().resume,
            Some(Target::Last)
        );
        assert_eq!(
            plan(&["x", "--resume", THREAD]).unwrap().resume,
            Some(Target::Thread(THREAD.into()))
        );
        assert_eq!(plan(&["x"]).unwrap().resume, None);
        for bad in ["latest", "", "01a22949", "../sessions/x"] {
            let e = plan(&["x", "--resume", bad]).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{bad:?}");
            assert!(e.to_string().contains("not a codex thread id"), "{e}");
        }
        // It works with a sandbox, a folder and a work type; not with --dual.
        let p = plan(&[
            "x",
            "read-only",
            "sub",
            "--resume",
            "last",
            "--work-type",
            "code",
        ])
        .unwrap();
        assert_eq!(
            (p.sandbox, p.dir.as_path(), p.models[0].1.as_str()),
            (Sandbox::ReadOnly, Path::new("/w/sub"), "gpt-5.3-codex")
        );
        let clash =
            crate::cli::Cli::try_parse_from(["offload", "run", "x", "--dual", "--resume", "last"])
                .unwrap_err();
        assert_eq!(clash.exit_code(), 2, "{clash}");
        let mut a = args(&["x", "--resume", "last"]);
        a.dual = true;
        let e = resolve(
            &a,
            &RunnerConfig::default(),
            Path::new("/w"),
            |_| true,
            [None, None],
        )
        .unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().contains("--dual"), "{e}");
    }

    fn finished_on(session: Option<&str>, cwd: &str, thread: &str, at: i64) -> Event {
        Event {
            v: 1,
            ts: chrono::DateTime::from_timestamp(1_795_000_000 + at, 0).unwrap(),
            session: session.map(str::to_owned),
            body: Body::AttemptFinished(Box::new(AttemptFinished {
                attempt: format!("a{at}"),
                outcome: Outcome::Success,
                exit_code: 0,
                codex_exit: Some(0),
                model: "m".into(),
                sandbox: "read-only".into(),
                work_type: None,
                cwd: cwd.into(),
                duration_ms: 1,
                tokens: Tokens::default(),
                thread_id: Some(thread.into()),
                error: None,
                unconfigured_codex: None,
                resumed_from: None,
                job: None,
                trace: None,
            })),
        }
    }

    #[test]
    fn last_is_this_sessions_thread_else_this_folders_else_a_usage_error() {
        let log = [
            finished_on(Some("s"), "/elsewhere", "t-session", 1),
            finished_on(Some("o"), "/w", "t-folder", 2),
        ];
        let pick = |session: Option<&str>, dir: &str| {
            let mut scan = ThreadScan::new(session, project_names(Path::new(dir)), None);
            log.iter().for_each(|e| scan.see(e));
            pick_thread(&Target::Last, &scan, session, Path::new(dir))
                .map(|(id, record)| (id, record.map(|r| r.cwd)))
        };
        assert_eq!(
            pick(Some("s"), "/w").unwrap(),
            ("t-session".into(), Some("/elsewhere".into()))
        );
        assert_eq!(pick(Some("new"), "/w").unwrap().0, "t-folder");
        assert_eq!(pick(None, "/w").unwrap().0, "t-folder");
        let e = pick(Some("new"), "/nowhere").unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(
            e.to_string()
                .contains("no Codex thread for this Claude Code session (new) nor for /nowhere"),
            "{e}"
        );
        let e = pick(None, "/nowhere").unwrap_err();
        assert!(
            e.to_string().contains("no Claude Code session is known"),
            "{e}"
        );
        // A thread named by its id is taken as it is, known to the ledger or not.
        let scan = ThreadScan::new(None, vec![], Some(THREAD));
        assert_eq!(
            pick_thread(
                &Target::Thread(THREAD.into()),
                &scan,
                None,
                Path::new("/nowhere")
            )
            .unwrap(),
            (THREAD.to_string(), None)
        );
    }

    #[test]
    fn a_resumed_attempt_counts_its_own_turn() {
        let t = |input: u64, output: u64| Tokens {
            input,
            cached_input: input / 2,
            output,
            reasoning: 1,
            total: input + output,
        };
        let resumed = Resumed {
            thread_id: THREAD.into(),
            prior: Prior::choose(Some(t(1000, 50)), Tokens::default(), 0),
        };
        let own = own_tokens(Some(&resumed), Some(THREAD), t(2500, 80));
        assert_eq!(
            (
                own.input,
                own.cached_input,
                own.output,
                own.reasoning,
                own.total
            ),
            (1500, 750, 30, 0, 1530)
        );
        // No thread seen (codex failed first): still the difference, here none.
        assert_eq!(
            own_tokens(Some(&resumed), None, Tokens::default()),
            Tokens::default()
        );
        // codex went to another thread, or nothing was resumed: as reported.
        assert_eq!(
            own_tokens(Some(&resumed), Some("other"), t(2500, 80)),
            t(2500, 80)
        );
        assert_eq!(own_tokens(None, Some(THREAD), t(2500, 80)), t(2500, 80));
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
