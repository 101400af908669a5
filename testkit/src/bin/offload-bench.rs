//! Benchmarks that print figures (never timed assertions).
//!
//!   offload-bench runner [--runs N] [--offload PATH] [--codex PATH]
//!   offload-bench hook [--runs N] [--hook PATH]
//!   offload-bench hook-effect [--runs N] [--hook PATH]
//!   offload-bench statusline [--runs N] [--ccstatusline-runs N] [--statusline PATH]
//!                            [--ccline PATH] [--ccstatusline PATH]
//!   offload-bench telemetry [--runs N] [--hook-runs N] [--offload PATH] [--hook PATH]
//!                           [--codex PATH]
//!
//! `runner`: what `offload run` adds on top of codex. Interleaved runs of
//!   A: `offload run "say hi" read-only <dir>` (CODEX_BIN = the real codex)
//!   B: the same `codex exec …` command line offload builds, run bare,
//! both against the loopback mock Responses server, median of N each (default 30). Codex's own
//! time varies by tens of milliseconds run to run, so the same comparison is repeated with a
//! stand-in codex that answers instantly (tests/fixtures/fake-codex.sh), where what remains is
//! offload's own cost.
//!
//! `hook`: PreToolUse decision latency of `offload-hook` as a whole process (spawn, stdin,
//! answer, exit), N runs per case, median and p99, with an empty ledger and with 100 000
//! recorded events: a denied Edit (the slowest path: it also records the denial), an allowed
//! Edit after a successful attempt, and a Bash command that writes nothing.
//!
//! `hook-effect`: what the effect check costs a Bash call, in a 10 000-file git repository
//! (8 000 code files in 400 folders, 2 000 others, a few files modified and untracked, and an
//! ignored `target/` of 20 000 files). One Bash call is a PreToolUse process then a PostToolUse
//! process (the command itself is not run: it writes nothing). Cases: unlocked (a successful
//! attempt in the turn: nothing is watched, today's cost), locked with a command the analyzer
//! reads completely (`git status`: nothing is watched), and locked with a command it cannot
//! read (`python3 tools/report.py`: snapshot in PreToolUse, check in PostToolUse). Median and
//! p99 of each hook and of the pair.
//!
//! `statusline`: `offload-statusline` against two peer statuslines installed by
//! `scripts/install-clients.sh ccstatusline ccline` (`.tools/bin/`): CCometixLine's native
//! `ccline` and the Node CLI `ccstatusline`, each run the way Claude Code runs it (the command
//! alone, statusline JSON on a stdin pipe). All three get the same stdin (the captured
//! `statusline-later.json` pointed at the scene below), a temp HOME holding each peer's config
//! (so nothing reads or writes the real home), and a temp git repo with one commit and one
//! edit as cwd (the peers show the branch and changes). offload has a 100 000-event ledger, a
//! summary for the stdin's session and a Codex rollout with rate limits, so it renders a full
//! line. After one sample line each and one warm-up each, runs are interleaved in rotating
//! order (A B C, B C A, …): `--runs` each for offload and ccline (default 200), and
//! `--ccstatusline-runs` for ccstatusline (default 50, at most `--runs`; a Node start costs
//! ~0.3 s), spread evenly through the same loop. Prints median, p10, p90 and the ratios to
//! offload's median against the targets; asserts nothing.
//!
//! `telemetry`: what OpenTelemetry export costs the commands that start its detached flush.
//! First `offload run "say hi" read-only <dir>` as in `runner` (the real codex against the
//! mock Responses server, then the instant stand-in codex), N interleaved runs per case
//! (default 20): export off, and export on (`OTEL_{METRICS,TRACES}_EXPORTER=otlp`,
//! http/protobuf, `OTEL_EXPORTER_OTLP_TIMEOUT=2000`) with a collector that is up (a loopback
//! receiver answering `200`), down (a port nothing listens on) and hung (a receiver that reads
//! each request and never answers). Each case has its own state folder, so its own cursors.
//! Before each timed run the flushes started by the previous ones have ended (found in `/proc`
//! by the state folder they were given; only the hung case's is left to wait on its deadline,
//! blocked on a read), so a flush's work never lands inside another case's timing. Median,
//! p90 and the median paired difference to export off; then what each collector received (the
//! figures mean something only if the one that is up got requests). Second, `offload-hook`
//! with export off and on (the up receiver), `--hook-runs` runs per case (default 200), off
//! and on interleaved: two PreToolUse calls (never a flush) and two UserPromptSubmit calls,
//! one with something to send (an event appended before each run, and the turn the hook
//! records) and one with nothing (a `<task-notification>` prompt, which records nothing, after
//! the previous flush sent everything: the check alone). Median and p99 per case.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use shared::ledger::{AttemptFinished, Body, Event, Ledger, Tokens};
use shared::outcome::Outcome;
use shared::paths::Paths;

use offload_testkit::codex::{CodexHome, real_codex, workspace_root};
use offload_testkit::responses::{MockResponses, Reply};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match args.first().map(String::as_str) {
        Some("runner") => {
            let runs = flag("--runs")
                .and_then(|r| r.parse().ok())
                .unwrap_or(30usize);
            let offload = flag("--offload")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/release/offload"));
            let codex = flag("--codex").map(PathBuf::from).or_else(real_codex);
            runner(runs, &offload, codex.as_deref());
        }
        Some("hook-effect") => {
            let runs = flag("--runs").and_then(|v| v.parse().ok()).unwrap_or(200);
            let hook = flag("--hook")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/release/offload-hook"));
            effect_bench(runs, &hook);
        }
        Some("ledger") => {
            let offload = flag("--offload")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/release/offload"));
            let sizes: Vec<usize> = flag("--events")
                .map(|v| v.split(',').filter_map(|n| n.parse().ok()).collect())
                .unwrap_or_else(|| vec![100_000, 1_000_000]);
            let keep = flag("--keep").map(PathBuf::from);
            ledger_bench(&offload, &sizes, keep.as_deref());
        }
        Some("hook") => {
            let runs = flag("--runs")
                .and_then(|r| r.parse().ok())
                .unwrap_or(300usize);
            let hook = flag("--hook")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/release/offload-hook"));
            hook_bench(runs, &hook);
        }
        Some("telemetry") => {
            let runs = flag("--runs")
                .and_then(|r| r.parse().ok())
                .unwrap_or(20usize)
                .max(1);
            let hook_runs = flag("--hook-runs")
                .and_then(|r| r.parse().ok())
                .unwrap_or(200usize)
                .max(1);
            let offload = flag("--offload")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/release/offload"));
            let hook = flag("--hook")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/release/offload-hook"));
            let codex = flag("--codex").map(PathBuf::from).or_else(real_codex);
            telemetry_bench(runs, hook_runs, &offload, &hook, codex.as_deref());
        }
        Some("statusline") => {
            let runs = flag("--runs")
                .and_then(|r| r.parse().ok())
                .unwrap_or(200usize)
                .max(1);
            let slow_runs = flag("--ccstatusline-runs")
                .and_then(|r| r.parse().ok())
                .unwrap_or(50usize)
                .clamp(1, runs);
            let tool = |name: &str, default: &str| {
                flag(name)
                    .map(PathBuf::from)
                    .unwrap_or_else(|| workspace_root().join(default))
            };
            statusline_bench(
                runs,
                slow_runs,
                &tool("--statusline", "target/release/offload-statusline"),
                &tool("--ccline", ".tools/bin/ccline"),
                &tool("--ccstatusline", ".tools/bin/ccstatusline"),
            );
        }
        _ => {
            eprintln!("usage: offload-bench runner [--runs N] [--offload PATH] [--codex PATH]");
            eprintln!("       offload-bench hook [--runs N] [--hook PATH]");
            eprintln!(
                "       offload-bench ledger [--events 100000,1000000] [--offload PATH] [--keep DIR]"
            );
            eprintln!("       offload-bench hook-effect [--runs N] [--hook PATH]");
            eprintln!(
                "       offload-bench statusline [--runs N] [--ccstatusline-runs N] [--statusline PATH] [--ccline PATH] [--ccstatusline PATH]"
            );
            eprintln!(
                "       offload-bench telemetry [--runs N] [--hook-runs N] [--offload PATH] [--hook PATH] [--codex PATH]"
            );
            std::process::exit(2);
        }
    }
}

fn runner(runs: usize, offload: &Path, codex: Option<&Path>) {
    if !offload.exists() {
        eprintln!(
            "offload-bench: {} not found; build it: cargo build --release -p offload",
            offload.display()
        );
        std::process::exit(1);
    }
    println!(
        "offload run overhead: {runs} interleaved runs each, {}",
        offload.display()
    );
    let fake = workspace_root().join("tests/fixtures/fake-codex.sh");
    let mut rows = Vec::new();
    if let Some(codex) = codex {
        let mock = MockResponses::start().expect("start the mock Responses server");
        mock.set_default(Reply::message("hi"));
        let home = CodexHome::new(&mock.base_url());
        rows.push(compare(
            "real codex 0.169.0 + mock",
            runs,
            offload,
            codex,
            &home,
        ));
    } else {
        println!(
            "(real codex not installed: scripts/install-clients.sh codex; measuring the stand-in only)"
        );
    }
    let home = CodexHome::new("http://127.0.0.1:9/v1");
    rows.push(compare(
        "instant stand-in codex",
        runs,
        offload,
        &fake,
        &home,
    ));
    println!();
    println!(
        "{:<28} {:>12} {:>12} {:>12} {:>14}",
        "codex", "bare median", "offload med.", "added (med)", "added (paired)"
    );
    for r in &rows {
        println!(
            "{:<28} {:>10.1}ms {:>10.1}ms {:>10.1}ms {:>12.1}ms",
            r.label,
            ms(r.bare),
            ms(r.wrapped),
            ms(r.wrapped) - ms(r.bare),
            r.paired
        );
    }
    println!("target: ≤ 5 ms added");
}

struct Row {
    label: &'static str,
    bare: Duration,
    wrapped: Duration,
    /// Median of per-pair differences, in ms.
    paired: f64,
}

fn compare(
    label: &'static str,
    runs: usize,
    offload: &Path,
    codex: &Path,
    home: &CodexHome,
) -> Row {
    let state = tempfile::tempdir().expect("temp state folder");
    let last = state.path().join("last.txt");
    let work = home.workdir();
    let bare = |codex: &Path| {
        let mut c = Command::new(codex);
        c.args([
            "exec",
            "--json",
            "--skip-git-repo-check",
            "-m",
            "gpt-5.4",
            "-s",
            "read-only",
            "-C",
        ])
        .arg(&work)
        .args([
            "-c",
            "model_reasoning_effort=\"xhigh\"",
            "-c",
            "approval_policy=\"never\"",
            "-o",
        ])
        .arg(&last)
        .args(["--", "say hi"]);
        c
    };
    let wrapped = || {
        let mut c = Command::new(offload);
        c.args(["run", "say hi", "read-only"])
            .arg(&work)
            .env("CODEX_BIN", codex)
            .env("OFFLOAD_HOME", state.path())
            .env("OFFLOAD_RUNS_KEEP", "5")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .env_remove("OFFLOAD_SESSION_ID");
        c
    };
    // One warm-up of each (page cache, first rollout folder).
    time(bare(codex), home);
    time(wrapped(), home);
    let (mut a, mut b, mut diffs) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..runs {
        let (x, y) = if i % 2 == 0 {
            let y = time(bare(codex), home);
            (time(wrapped(), home), y)
        } else {
            let x = time(wrapped(), home);
            (x, time(bare(codex), home))
        };
        diffs.push(ms(x) - ms(y));
        a.push(x);
        b.push(y);
    }
    let row = Row {
        label,
        bare: median(&mut b),
        wrapped: median(&mut a),
        paired: {
            diffs.sort_by(f64::total_cmp);
            diffs[diffs.len() / 2]
        },
    };
    println!(
        "  {label}: bare {:.1}ms, offload {:.1}ms",
        ms(row.bare),
        ms(row.wrapped)
    );
    row
}

fn time(mut cmd: Command, home: &CodexHome) -> Duration {
    cmd.envs(home.envs())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let start = Instant::now();
    let status = cmd.status().expect("run the benchmark command");
    let took = start.elapsed();
    if !status.success() {
        eprintln!("offload-bench: a run failed ({status}): {cmd:?}");
        std::process::exit(1);
    }
    took
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn hook_bench(runs: usize, hook: &Path) {
    if !hook.exists() {
        eprintln!(
            "offload-bench: {} not found; build it: cargo build --release -p offload-hook",
            hook.display()
        );
        std::process::exit(1);
    }
    println!(
        "offload-hook PreToolUse latency: {runs} runs per case, {}",
        hook.display()
    );
    println!();
    println!(
        "{:<16} {:<34} {:>9} {:>9} {:>9}",
        "ledger", "case", "median", "p99", "max"
    );
    for events in [0usize, 100_000] {
        let dir = tempfile::tempdir().expect("temp folder");
        let home = dir.path().join("state");
        let project = dir.path().join("proj");
        std::fs::create_dir_all(project.join("src")).expect("project folder");
        let ledger = fill_ledger(&home, events);
        let ok_session = "bench-ok";
        ledger
            .append(&[Event::now(Some(ok_session), ok_attempt())])
            .expect("append");
        let edit = |session: &str| {
            serde_json::json!({
                "session_id": session, "cwd": project, "hook_event_name": "PreToolUse",
                "tool_name": "Edit", "tool_use_id": "toolu_1",
                "tool_input": {"file_path": project.join("src/lib.rs"), "old_string": "fn a()", "new_string": "fn b()", "replace_all": false}
            })
            .to_string()
        };
        let bash = serde_json::json!({
            "session_id": "bench-new", "cwd": project, "hook_event_name": "PreToolUse",
            "tool_name": "Bash", "tool_input": {"command": "cargo test --workspace 2>&1 | tail -20", "description": "run tests"}
        })
        .to_string();
        let cases = [
            ("Edit denied (records it)", edit("bench-new"), true),
            ("Edit allowed after attempt", edit(ok_session), false),
            ("Bash, writes nothing", bash, false),
        ];
        for (name, payload, denies) in cases {
            let mut times: Vec<Duration> = (0..runs)
                .map(|_| {
                    let start = Instant::now();
                    let mut child = Command::new(hook)
                        .env("OFFLOAD_HOME", &home)
                        .env("CLAUDE_PROJECT_DIR", &project)
                        .env_remove("OFFLOAD_MODE")
                        .stdin(Stdio::piped())
                        .stdout(Stdio::piped())
                        .stderr(Stdio::null())
                        .spawn()
                        .expect("spawn offload-hook");
                    child
                        .stdin
                        .take()
                        .expect("stdin")
                        .write_all(payload.as_bytes())
                        .expect("write stdin");
                    let out = child.wait_with_output().expect("wait");
                    let took = start.elapsed();
                    let denied = String::from_utf8_lossy(&out.stdout).contains("\"deny\"");
                    assert_eq!(
                        denied,
                        denies,
                        "{name}: unexpected answer {:?}",
                        String::from_utf8_lossy(&out.stdout)
                    );
                    took
                })
                .collect();
            times.sort();
            let p99 = times[(times.len() * 99 / 100).min(times.len() - 1)];
            println!(
                "{:<16} {:<34} {:>7.2}ms {:>7.2}ms {:>7.2}ms",
                format!("{events} events"),
                name,
                ms(times[times.len() / 2]),
                ms(p99),
                ms(*times.last().expect("runs > 0"))
            );
        }
    }
    println!("target: median ≤ 2 ms, p99 ≤ 5 ms, no growth with the ledger");
}

/// An offload state folder with `events` recorded attempts (spread over 500 old sessions) and
/// the summaries rebuilt from them. The log is written directly (one append per event would
/// take minutes), then the ledger rebuilds its summaries from it, as `offload stats --rebuild`
/// does.
fn fill_ledger(home: &Path, events: usize) -> Ledger {
    let ledger = Ledger::new(Paths::in_folder(home.to_path_buf()));
    if events == 0 {
        return ledger;
    }
    std::fs::create_dir_all(home).expect("state folder");
    let mut log =
        std::io::BufWriter::new(std::fs::File::create(home.join("events.jsonl")).expect("log"));
    for i in 0..events {
        let ev = Event::now(
            Some(&format!("old-{}", i % 500)),
            Body::AttemptFinished(Box::new(AttemptFinished {
                unconfigured_codex: None,
                attempt: format!("a{i}"),
                outcome: if i % 7 == 0 {
                    Outcome::Failed
                } else {
                    Outcome::Success
                },
                exit_code: 0,
                codex_exit: Some(0),
                model: "gpt-5.3-codex".into(),
                sandbox: "workspace-write".into(),
                work_type: Some("code".into()),
                cwd: "/w".into(),
                duration_ms: 30_000,
                tokens: Tokens {
                    input: 50_000,
                    cached_input: 40_000,
                    output: 900,
                    reasoning: 300,
                    total: 50_900,
                },
                thread_id: Some("01a20c4a-a5ff-7792-8016-3e1e51903e20".into()),
                error: None,
                resumed_from: None,
                job: None,
                trace: None,
            })),
        );
        serde_json::to_writer(&mut log, &ev).expect("serialize");
        log.write_all(b"\n").expect("write");
    }
    log.flush().expect("flush");
    // Flush the 30 MB to disk now, so its writeback does not land inside the timings.
    log.get_ref().sync_all().expect("sync the log");
    drop(log);
    ledger.rebuild().expect("rebuild summaries");
    ledger
}

/// Events in the ledger offload's statusline runs against.
const STATUSLINE_EVENTS: usize = 100_000;

/// Where every statusline command runs: one temp folder holding a HOME, a git repo (the cwd),
/// offload's state, a CODEX_HOME, and the stdin they all get.
struct Scene {
    _dir: tempfile::TempDir,
    home: PathBuf,
    repo: PathBuf,
    state: PathBuf,
    codex_home: PathBuf,
    session: String,
    stdin: Vec<u8>,
}

impl Scene {
    fn new() -> Scene {
        let dir = tempfile::tempdir().expect("temp folder");
        let root = dir.path().canonicalize().expect("temp folder path");
        let (home, repo) = (root.join("home"), root.join("repo"));
        let (state, codex_home) = (root.join("offload"), root.join("codex"));
        for d in [&home, &repo, &codex_home] {
            std::fs::create_dir_all(d).expect("scene folder");
        }

        let fixtures = workspace_root().join("shared/tests/fixtures");
        let mut input: serde_json::Value = serde_json::from_slice(
            &std::fs::read(fixtures.join("claude/2.1.330/statusline-later.json"))
                .expect("read the statusline fixture"),
        )
        .expect("statusline fixture is JSON");
        let session = input["session_id"]
            .as_str()
            .expect("fixture has a session_id")
            .to_string();

        // offload: the ledger, one attempt in this session (its summary), and a rollout with
        // rate limits in today's folder.
        let ledger = fill_ledger(&state, STATUSLINE_EVENTS);
        let attempt = Event::now(
            Some(&session),
            Body::AttemptFinished(Box::new(AttemptFinished {
                unconfigured_codex: None,
                attempt: "bench".into(),
                outcome: Outcome::Success,
                exit_code: 0,
                codex_exit: Some(0),
                model: "gpt-5.5".into(),
                sandbox: "workspace-write".into(),
                work_type: Some("code".into()),
                cwd: repo.display().to_string(),
                duration_ms: 42_000,
                tokens: Tokens {
                    input: 11_800,
                    cached_input: 9_000,
                    output: 600,
                    reasoning: 200,
                    total: 12_400,
                },
                thread_id: Some("01a20c4a-b763-7c92-94af-656f999e2a31".into()),
                error: None,
                resumed_from: None,
                job: None,
                trace: None,
            })),
        );
        let now = attempt.ts;
        ledger
            .append(&[attempt])
            .expect("append the session's attempt");
        let rollout = std::fs::read_to_string(fixtures.join("codex/rollout-rate-limits.jsonl"))
            .expect("read the rollout fixture");
        let mut line: serde_json::Value = rollout
            .lines()
            .find(|l| l.contains("\"token_count\"") && l.contains("\"rate_limits\""))
            .and_then(|l| serde_json::from_str(l).ok())
            .expect("rollout fixture has a token_count line with rate limits");
        line["timestamp"] = now.to_rfc3339().into();
        let limits = &mut line["payload"]["rate_limits"];
        limits["primary"]["resets_at"] = (now.timestamp() + 2 * 3600).into();
        limits["secondary"]["resets_at"] = (now.timestamp() + 3 * 86_400).into();
        let day = shared::codex::rollout::day_dirs(&codex_home, now)
            .into_iter()
            .next()
            .expect("today's rollout folder");
        std::fs::create_dir_all(&day).expect("rollout folder");
        std::fs::write(
            day.join(format!(
                "rollout-{}-01a20c4a-b763-7c92-94af-656f999e2a31.jsonl",
                now.format("%Y-%m-%dT%H-%M-%S")
            )),
            format!("{line}\n"),
        )
        .expect("write the rollout");

        // The repo: one commit on main, one uncommitted edit.
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .args([
                    "-c",
                    "user.name=bench",
                    "-c",
                    "user.email=bench@example.invalid",
                ])
                .args([
                    "-c",
                    "commit.gpgsign=false",
                    "-c",
                    "init.defaultBranch=main",
                ])
                .args(args)
                .current_dir(&repo)
                .env("HOME", &home)
                .env_remove("GIT_DIR")
                .env_remove("GIT_WORK_TREE")
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "git {args:?} failed in {}", repo.display());
        };
        std::fs::write(repo.join("README.md"), "# bench\n").expect("write README");
        git(&["init", "-q"]);
        git(&["add", "README.md"]);
        git(&["commit", "-q", "-m", "init"]);
        std::fs::write(repo.join("README.md"), "# bench\n\nedited\n").expect("edit README");

        // A small real transcript where Claude Code keeps it (both peers read it).
        let slug: String = repo
            .display()
            .to_string()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let transcript = home
            .join(".claude/projects")
            .join(slug)
            .join(format!("{session}.jsonl"));
        std::fs::create_dir_all(transcript.parent().expect("parent")).expect("transcript folder");
        let common = |kind: &str, uuid: &str, parent: Option<&str>| {
            serde_json::json!({
                "parentUuid": parent, "isSidechain": false, "userType": "external",
                "cwd": repo, "sessionId": session, "version": "2.1.330", "gitBranch": "main",
                "type": kind, "uuid": uuid, "timestamp": now.to_rfc3339(),
            })
        };
        let mut user = common("user", "b7c1e0a2-0000-4000-8000-000000000001", None);
        user["message"] = serde_json::json!({"role": "user", "content": "say hi"});
        let mut assistant = common(
            "assistant",
            "b7c1e0a2-0000-4000-8000-000000000002",
            Some("b7c1e0a2-0000-4000-8000-000000000001"),
        );
        assistant["message"] = serde_json::json!({
            "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-opus-5-5",
            "content": [{"type": "text", "text": "hi"}], "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": 100, "cache_creation_input_tokens": 0,
                      "cache_read_input_tokens": 0, "output_tokens": 10}
        });
        assistant["requestId"] = "req_bench".into();
        std::fs::write(&transcript, format!("{user}\n{assistant}\n")).expect("write transcript");

        // ccstatusline's config: its defaults (model, context, git branch, git changes),
        // written out as its TUI would, so it does not write one on the first run.
        let settings = home.join(".config/ccstatusline/settings.json");
        std::fs::create_dir_all(settings.parent().expect("parent")).expect("config folder");
        let lines = serde_json::json!([
            [
                {"id": "1", "type": "model", "color": "cyan"},
                {"id": "2", "type": "separator"},
                {"id": "3", "type": "context-length", "color": "brightBlack"},
                {"id": "4", "type": "separator"},
                {"id": "5", "type": "git-branch", "color": "magenta"},
                {"id": "6", "type": "separator"},
                {"id": "7", "type": "git-changes", "color": "yellow"}
            ],
            [],
            []
        ]);
        std::fs::write(
            &settings,
            serde_json::json!({"version": 4, "lines": lines}).to_string(),
        )
        .expect("write ccstatusline settings");

        input["cwd"] = repo.display().to_string().into();
        input["workspace"]["current_dir"] = repo.display().to_string().into();
        input["workspace"]["project_dir"] = repo.display().to_string().into();
        input["transcript_path"] = transcript.display().to_string().into();
        Scene {
            _dir: dir,
            home,
            repo,
            state,
            codex_home,
            session,
            stdin: input.to_string().into_bytes(),
        }
    }

    /// `program args…` as Claude Code runs a statusline, in this scene.
    fn command(&self, program: &Path, args: &[&str]) -> Command {
        let mut c = Command::new(program);
        c.args(args)
            .current_dir(&self.repo)
            .env("HOME", &self.home)
            .env("OFFLOAD_HOME", &self.state)
            .env("CODEX_HOME", &self.codex_home)
            .env("CLAUDE_CODE_SESSION_ID", &self.session)
            .env("CLAUDE_PROJECT_DIR", &self.repo)
            .env("COLUMNS", "160")
            .env("LINES", "40");
        for var in [
            "XDG_CONFIG_HOME",
            "XDG_CACHE_HOME",
            "XDG_DATA_HOME",
            "XDG_STATE_HOME",
            "CLAUDE_CONFIG_DIR",
            "NO_COLOR",
            "GIT_DIR",
            "GIT_WORK_TREE",
            "GIT_INDEX_FILE",
        ] {
            c.env_remove(var);
        }
        c
    }

    /// One render: the time from spawn to exit with all output read, and the output.
    fn render(&self, program: &Path, keep_stderr: bool) -> (Duration, Output) {
        let mut cmd = self.command(program, &[]);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if keep_stderr {
                Stdio::piped()
            } else {
                Stdio::null()
            });
        let start = Instant::now();
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            eprintln!("offload-bench: cannot run {}: {e}", program.display());
            std::process::exit(1);
        });
        if let Some(mut input) = child.stdin.take() {
            // A command that exits without reading its stdin is measured all the same.
            let _ = input.write_all(&self.stdin);
        }
        let out = child.wait_with_output().expect("wait for the statusline");
        (start.elapsed(), out)
    }
}

/// A statusline command being measured.
struct Contender {
    name: String,
    program: PathBuf,
    runs: usize,
    times: Vec<Duration>,
    /// Timed runs that failed or printed nothing.
    blank: usize,
}

impl Contender {
    /// Whether the `i`th of `total` loop iterations times this command: every one when it
    /// runs `total` times, else `runs` of them spread evenly.
    fn due(&self, i: usize, total: usize) -> bool {
        (i + 1) * self.runs / total > i * self.runs / total
    }

    fn percentile(&self, q: f64) -> Duration {
        let mut v = self.times.clone();
        v.sort();
        v[((v.len() - 1) as f64 * q).round() as usize]
    }
}

fn statusline_bench(
    runs: usize,
    slow_runs: usize,
    offload: &Path,
    ccline: &Path,
    ccstatusline: &Path,
) {
    if !offload.exists() {
        eprintln!(
            "offload-bench: {} not found; build it: cargo build --release -p offload-statusline",
            offload.display()
        );
        std::process::exit(1);
    }
    println!(
        "statusline render latency: same stdin, temp HOME, temp git repo as cwd, {STATUSLINE_EVENTS} ledger events for offload"
    );
    let scene = Scene::new();
    let version = |program: &Path| {
        let out = scene
            .command(program, &["--version"])
            .stdin(Stdio::null())
            .output()
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        text.split_whitespace().last().map(str::to_string)
    };
    let mut contenders = vec![Contender {
        name: "offload-statusline".into(),
        program: offload.to_path_buf(),
        runs,
        times: Vec::new(),
        blank: 0,
    }];
    println!("  offload-statusline: {}", offload.display());
    for (name, program, count) in [
        ("ccline", ccline, runs),
        ("ccstatusline", ccstatusline, slow_runs),
    ] {
        if !program.exists() {
            println!(
                "  {name}: {} not found (scripts/install-clients.sh {name}); left out",
                program.display()
            );
            continue;
        }
        let shown = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
        let version = version(program).unwrap_or_else(|| "?".into());
        println!("  {name} {version}: {}", shown.display());
        contenders.push(Contender {
            name: format!("{name} {version}"),
            program: program.to_path_buf(),
            runs: count,
            times: Vec::new(),
            blank: 0,
        });
    }

    // ccline's config: the first run writes its built-in themes; the default one is the
    // config its TUI would save.
    if contenders.iter().any(|c| c.name.starts_with("ccline")) {
        scene.render(ccline, false);
        let dir = scene.home.join(".claude/ccline");
        if std::fs::copy(dir.join("themes/default.toml"), dir.join("config.toml")).is_err() {
            println!(
                "  ccline: no themes/default.toml after a first run; it runs on built-in defaults"
            );
        }
    }

    println!();
    println!("sample lines (colours stripped):");
    for c in &contenders {
        let (took, out) = scene.render(&c.program, true);
        let text = strip_ansi(&String::from_utf8_lossy(&out.stdout));
        let first = text.lines().find(|l| !l.trim().is_empty());
        match first {
            Some(line) if out.status.success() => {
                println!("  {:<22} {line}", c.name);
                let more = text.lines().filter(|l| !l.trim().is_empty()).count();
                if more > 1 {
                    println!("  {:<22} (+{} more lines)", "", more - 1);
                }
            }
            _ => println!(
                "  {:<22} PRINTED NOTHING (exit {}, {:.1}ms; stderr: {})",
                c.name,
                out.status,
                ms(took),
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        }
    }
    // One warm-up each (page cache, the peers' git caches, offload's rate-limit cache).
    for c in &contenders {
        scene.render(&c.program, false);
    }

    let n = contenders.len();
    for i in 0..runs {
        for k in 0..n {
            let c = &mut contenders[(i + k) % n];
            if !c.due(i, runs) {
                continue;
            }
            let (took, out) = scene.render(&c.program, false);
            if !out.status.success() || out.stdout.iter().all(u8::is_ascii_whitespace) {
                c.blank += 1;
            }
            c.times.push(took);
        }
    }

    println!();
    println!(
        "{:<22} {:>5} {:>10} {:>10} {:>10}",
        "command", "runs", "median", "p10", "p90"
    );
    for c in &contenders {
        println!(
            "{:<22} {:>5} {:>8.2}ms {:>8.2}ms {:>8.2}ms{}",
            c.name,
            c.times.len(),
            ms(c.percentile(0.5)),
            ms(c.percentile(0.1)),
            ms(c.percentile(0.9)),
            if c.blank > 0 {
                format!("  ({} runs failed or printed nothing)", c.blank)
            } else {
                String::new()
            }
        );
    }
    let ours = ms(contenders[0].percentile(0.5));
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!();
    for (peer, target) in [("ccline", 2.0), ("ccstatusline", 100.0)] {
        match contenders
            .iter()
            .find(|c| c.name.starts_with(&format!("{peer} ")))
        {
            Some(c) => {
                let ratio = ms(c.percentile(0.5)) / ours;
                println!(
                    "{:<40} {ratio:>8.1}x   target ≥ {target}x: {}",
                    format!("{peer} median / offload median"),
                    verdict(ratio >= target)
                );
            }
            None => println!(
                "{:<40} {:>9}   target ≥ {target}x",
                format!("{peer} median / offload median"),
                "n/a"
            ),
        }
    }
    println!(
        "{:<40} {ours:>7.2}ms   target ≤ 2 ms: {}",
        "offload median",
        verdict(ours <= 2.0)
    );
}

/// `s` without ANSI escape sequences (CSI … final byte).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A successful attempt: it unlocks native work for its session's turn.
fn ok_attempt() -> Body {
    Body::AttemptFinished(Box::new(AttemptFinished {
        unconfigured_codex: None,
        attempt: "ok".into(),
        outcome: Outcome::Success,
        exit_code: 0,
        codex_exit: Some(0),
        model: "m".into(),
        sandbox: "workspace-write".into(),
        work_type: None,
        // A folder holding the bench projects (a success opens edits of the project it
        // worked on only).
        cwd: "/".into(),
        duration_ms: 1,
        tokens: Tokens::default(),
        thread_id: None,
        error: None,
        resumed_from: None,
        job: None,
        trace: None,
    }))
}

/// A 10 000-file git repository with an ignored `target/`, a few uncommitted changes.
fn big_repo(root: &Path) -> PathBuf {
    let project = root.join("repo");
    for d in 0..400 {
        let dir = project.join(format!("src/m{:03}/sub", d));
        std::fs::create_dir_all(&dir).expect("folder");
        for f in 0..20 {
            let path = if f < 10 {
                project.join(format!("src/m{:03}/f{f}.rs", d))
            } else {
                dir.join(format!("g{f}.py"))
            };
            std::fs::write(&path, format!("// file {d}/{f}\nfn f() {{}}\n")).expect("write");
        }
        for f in 0..5 {
            std::fs::write(project.join(format!("src/m{:03}/data{f}.json", d)), "{}\n")
                .expect("write");
        }
    }
    std::fs::write(project.join(".gitignore"), "target/\n").expect("write");
    for d in 0..200 {
        let dir = project.join(format!("target/debug/deps/d{d}"));
        std::fs::create_dir_all(&dir).expect("folder");
        for f in 0..100 {
            std::fs::write(dir.join(format!("o{f}.rs")), "x").expect("write");
        }
    }
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .arg("-C")
            .arg(&project)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "b")
            .env("GIT_AUTHOR_EMAIL", "b@b")
            .env("GIT_COMMITTER_NAME", "b")
            .env("GIT_COMMITTER_EMAIL", "b@b")
            .stdout(Stdio::null())
            .status()
            .expect("git")
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "bench"]);
    // Let the index age past "racily clean", then refresh it the way `git status` does.
    std::thread::sleep(Duration::from_millis(1100));
    git(&["status", "--short"]);
    for i in 0..5 {
        std::fs::write(project.join(format!("src/m{:03}/f0.rs", i)), "// edited\n").expect("write");
    }
    for i in 0..3 {
        std::fs::write(project.join(format!("src/m{:03}/new{i}.rs", i)), "// new\n")
            .expect("write");
    }
    project
}

fn effect_bench(runs: usize, hook: &Path) {
    if !hook.exists() {
        eprintln!(
            "offload-bench: {} not found; build it: cargo build --release -p offload-hook",
            hook.display()
        );
        std::process::exit(1);
    }
    let dir = tempfile::tempdir().expect("temp folder");
    let project = big_repo(dir.path());
    let home = dir.path().join("state");
    let ledger = fill_ledger(&home, 0);
    ledger
        .append(&[
            Event::now(
                Some("bench-ok"),
                Body::TurnStarted {
                    prompt_id: None,
                    project: None,
                },
            ),
            Event::now(Some("bench-ok"), ok_attempt()),
        ])
        .expect("append");
    println!(
        "offload-hook effect check: {runs} Bash calls per case (PreToolUse + PostToolUse processes), {}",
        hook.display()
    );
    println!(
        "repository: 10 000 files (8 000 code) in 800 folders, 8 uncommitted code files, ignored target/ of 20 000 files"
    );
    println!();
    println!(
        "{:<44} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}",
        "case", "pre med", "post med", "pair med", "pair p99", "pair max", "watched"
    );
    let call = |event: &str, session: &str, command: &str, n: usize| -> (Duration, String) {
        let payload = serde_json::json!({
            "session_id": session, "cwd": project, "hook_event_name": event,
            "tool_name": "Bash", "tool_use_id": format!("toolu_{n}"),
            "tool_input": {"command": command, "description": "bench"},
            "tool_response": {"stdout": "", "stderr": ""},
        })
        .to_string();
        let start = Instant::now();
        let mut child = Command::new(hook)
            .current_dir(&project)
            .env("OFFLOAD_HOME", &home)
            .env("CLAUDE_PROJECT_DIR", &project)
            .env_remove("OFFLOAD_MODE")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn offload-hook");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(payload.as_bytes())
            .expect("write stdin");
        let out = child.wait_with_output().expect("wait");
        (
            start.elapsed(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let cases = [
        (
            "unlocked, python3 tools/report.py",
            "bench-ok",
            "python3 tools/report.py",
        ),
        (
            "locked, git status (read completely)",
            "bench-new",
            "git status --short",
        ),
        (
            "locked, python3 tools/report.py (watched)",
            "bench-new",
            "python3 tools/report.py",
        ),
    ];
    let pending = home.join("guard/pending");
    let watched =
        |session: &str, n: usize| pending.join(format!("{session}--toolu_{n}.snap")).exists();
    let mut first = None;
    for (name, session, command) in cases {
        // A warm-up call: the first watched call walks the project, copies its uncommitted
        // files and starts the watcher; then wait for the watcher, and let one call take a mark.
        let (a, _) = call("PreToolUse", session, command, 0);
        let was_watched = watched(session, 0);
        let (b, _) = call("PostToolUse", session, command, 0);
        if was_watched && first.is_none() {
            first = Some(a + b);
            let ready = Instant::now();
            while ready.elapsed() < Duration::from_secs(30)
                && !std::fs::read_dir(home.join("guard"))
                    .into_iter()
                    .flatten()
                    .flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".pid"))
            {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        call("PreToolUse", session, command, 0);
        call("PostToolUse", session, command, 0);
        let mut pre = Vec::new();
        let mut post = Vec::new();
        let mut pair = Vec::new();
        let mut snapshots = 0;
        for n in 1..=runs {
            let (a, out) = call("PreToolUse", session, command, n);
            assert!(!out.contains("\"deny\""), "{name}: denied: {out}");
            snapshots += usize::from(watched(session, n));
            let (b, out) = call("PostToolUse", session, command, n);
            assert!(!out.contains("undid"), "{name}: undid something: {out}");
            pre.push(a);
            post.push(b);
            pair.push(a + b);
        }
        for v in [&mut pre, &mut post, &mut pair] {
            v.sort();
        }
        let p99 = pair[(pair.len() * 99 / 100).min(pair.len() - 1)];
        println!(
            "{:<44} {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>8.2}ms {:>8}",
            name,
            ms(pre[pre.len() / 2]),
            ms(post[post.len() / 2]),
            ms(pair[pair.len() / 2]),
            ms(p99),
            ms(*pair.last().expect("runs > 0")),
            format!("{snapshots}/{runs}")
        );
    }
    if let Some(f) = first {
        println!(
            "first watched call (walks the project, starts the watcher): Pre + Post {:.2}ms",
            ms(f)
        );
    }
    println!(
        "watched: calls whose PreToolUse took a snapshot (a program changed in the last day is watched too)"
    );
    println!("targets: unlocked median ≤ 3 ms; locked Pre + Post median ≤ 15 ms, p99 ≤ 40 ms");
}

/// A ledger of `events` events as real use makes them (per 10: a turn, two attempts started
/// and finished, three denials, a rate-limit snapshot, an approval every 50), spread over 2 000
/// sessions and 60 days. Written directly, without summaries.
fn fill_mixed_ledger(home: &Path, events: usize) {
    use shared::ledger::AttemptStarted;
    std::fs::create_dir_all(home).expect("state folder");
    let mut log =
        std::io::BufWriter::new(std::fs::File::create(home.join("events.jsonl")).expect("log"));
    let start = chrono::Utc::now() - chrono::Duration::days(60);
    let step = chrono::Duration::days(60) / events.max(1) as i32;
    for i in 0..events {
        let session = format!("0b7c3f52-1d2e-4a8b-9c3d-{:012}", (i / 10) % 2000);
        let attempt = format!("att-{}", i / 10 * 2 + usize::from(i % 10 >= 3));
        let body = match i % 10 {
            0 => Body::TurnStarted {
                prompt_id: None,
                project: Some("/home/dev/projects/service".into()),
            },
            1 | 3 => Body::AttemptStarted(AttemptStarted {
                attempt,
                model: "gpt-5.3-codex".into(),
                sandbox: "workspace-write".into(),
                work_type: Some("code".into()),
                cwd: "/home/dev/projects/service".into(),
                pid: 4242,
                resumed_from: None,
            }),
            2 | 4 => Body::AttemptFinished(Box::new(AttemptFinished {
                unconfigured_codex: None,
                attempt,
                outcome: if i % 70 == 2 {
                    Outcome::Failed
                } else {
                    Outcome::Success
                },
                exit_code: 0,
                codex_exit: Some(0),
                model: if i % 20 == 2 {
                    "gpt-5.4"
                } else {
                    "gpt-5.3-codex"
                }
                .into(),
                sandbox: "workspace-write".into(),
                work_type: Some("code".into()),
                cwd: "/home/dev/projects/service".into(),
                duration_ms: 30_000 + (i as u64 % 997) * 100,
                tokens: Tokens {
                    input: 50_000,
                    cached_input: 40_000,
                    output: 900,
                    reasoning: 300,
                    total: 50_900,
                },
                thread_id: Some("01a20c4a-a5ff-7792-8016-3e1e51903e20".into()),
                error: None,
                resumed_from: None,
                job: None,
                trace: None,
            })),
            5..=7 => Body::GuardDenied {
                tool: if i % 10 == 5 { "Agent" } else { "Edit" }.into(),
                reason: "route-first".into(),
                warn: false,
            },
            8 if i % 50 == 8 => Body::ApprovalGranted {
                source: "prompt".into(),
                terminal: None,
                unverified: None,
            },
            _ => Body::TurnStarted {
                prompt_id: None,
                project: Some("/home/dev/projects/service".into()),
            },
        };
        let mut ev = Event::now(Some(&session), body);
        ev.ts = start + step * i as i32;
        serde_json::to_writer(&mut log, &ev).expect("serialize");
        log.write_all(b"\n").expect("write");
    }
    log.flush().expect("flush");
    log.get_ref().sync_all().expect("sync the log");
}

/// Run a command to its end: wall time and peak memory (max RSS of the child, KiB).
#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives the peak memory
fn timed(cmd: &mut Command) -> (Duration, u64, bool) {
    let start = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut status = 0;
    // SAFETY: waiting for our own child, with a zeroed rusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(rc, pid, "wait4");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (start.elapsed(), usage.ru_maxrss as u64, ok)
}

#[allow(clippy::zombie_processes)] // reaped by wait4, which also gives the peak memory
fn ledger_bench(offload: &Path, sizes: &[usize], keep: Option<&Path>) {
    if !offload.exists() {
        eprintln!(
            "offload-bench: {} not found; build it: cargo build --release -p offload",
            offload.display()
        );
        std::process::exit(1);
    }
    let hook = offload.with_file_name("offload-hook");
    let statusline = offload.with_file_name("offload-statusline");
    let fake = workspace_root().join("tests/fixtures/fake-codex.sh");
    println!("the ledger at scale: {}", offload.display());
    println!();
    println!(
        "{:<10} {:>8} {:<28} {:>10} {:>10} {:>6}",
        "events", "log", "case", "time", "peak", "runs"
    );
    for &events in sizes {
        let temp;
        let root: PathBuf = match keep {
            // Kept for profiling: a state folder under `<keep>/<events>/` to point
            // OFFLOAD_HOME at.
            Some(k) => {
                let d = k.join(events.to_string());
                std::fs::create_dir_all(&d).expect("--keep folder");
                let kept = tempfile::Builder::new()
                    .prefix("ledger-")
                    .tempdir_in(&d)
                    .expect("temp folder")
                    .keep();
                println!("kept: {}", kept.display());
                kept
            }
            None => {
                temp = tempfile::tempdir().expect("temp folder");
                temp.path().to_path_buf()
            }
        };
        let home = root.as_path().join("state");
        let project = root.as_path().join("proj");
        std::fs::create_dir_all(project.join("src")).expect("project");
        fill_mixed_ledger(&home, events);
        let log_mb = std::fs::metadata(home.join("events.jsonl")).map_or(0, |m| m.len()) >> 20;
        let offload_cmd = |args: &[&str]| {
            let mut c = Command::new(offload);
            c.args(args)
                .env("OFFLOAD_HOME", &home)
                .env("HOME", root.as_path())
                .env("CODEX_BIN", &fake)
                .env("CODEX_HOME", root.as_path().join("codex"))
                .env_remove("OFFLOAD_MODE")
                .current_dir(&project);
            c
        };
        let payload = serde_json::json!({
            "session_id": "bench-new", "cwd": project, "hook_event_name": "PreToolUse",
            "tool_name": "Edit", "tool_use_id": "toolu_1",
            "tool_input": {"file_path": project.join("src/lib.rs"), "old_string": "a", "new_string": "b"}
        })
        .to_string();
        let piped = |program: &Path, input: &str| -> (Duration, u64) {
            let start = Instant::now();
            let mut child = Command::new(program)
                .env("OFFLOAD_HOME", &home)
                .env("CLAUDE_PROJECT_DIR", &project)
                .env_remove("OFFLOAD_MODE")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("stdin");
            let mut status = 0;
            // SAFETY: as in `timed`.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            let pid = child.id() as libc::pid_t;
            unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
            (start.elapsed(), usage.ru_maxrss as u64)
        };
        let row =
            |case: &str, runs: usize, mut f: Box<dyn FnMut() -> (Duration, u64, bool) + '_>| {
                let mut times = Vec::new();
                let mut peak = 0;
                for _ in 0..runs {
                    let (t, kb, ok) = f();
                    if !ok {
                        println!("{:<10} {:>6}MB {:<28} failed", events, log_mb, case);
                        return;
                    }
                    times.push(t);
                    peak = peak.max(kb);
                }
                times.sort();
                println!(
                    "{:<10} {:>6}MB {:<28} {:>8.1}ms {:>8}MB {:>6}",
                    events,
                    log_mb,
                    case,
                    ms(times[times.len() / 2]),
                    peak >> 10,
                    runs
                );
            };
        // The first command finds no summaries: it is the rebuild a missing totals.json costs.
        row(
            "stats --rebuild (cold)",
            1,
            Box::new(|| timed(&mut offload_cmd(&["stats", "--rebuild"]))),
        );
        row(
            "stats --rebuild",
            3,
            Box::new(|| timed(&mut offload_cmd(&["stats", "--rebuild"]))),
        );
        row("stats", 5, Box::new(|| timed(&mut offload_cmd(&["stats"]))));
        row(
            "stats --json",
            5,
            Box::new(|| timed(&mut offload_cmd(&["stats", "--json"]))),
        );
        row(
            "doctor",
            5,
            // doctor exits 1 when a check fails (here: no setup, no codex login): timed anyway.
            Box::new(|| {
                let (t, kb, _) = timed(&mut offload_cmd(&["doctor"]));
                (t, kb, true)
            }),
        );
        row(
            "run (fake codex)",
            5,
            Box::new(|| timed(&mut offload_cmd(&["run", "x", "read-only", "."]))),
        );
        // totals.json gone (a crash, a user's rm): the run hands the fold to a background
        // rebuild instead of doing it.
        row(
            "run, totals.json missing",
            3,
            Box::new(|| {
                let _ = std::fs::remove_file(home.join("totals.json"));
                let r = timed(&mut offload_cmd(&["run", "x", "read-only", "."]));
                // Let the background rebuild finish before the next row.
                let until = Instant::now() + Duration::from_secs(60);
                while !home.join("totals.json").exists() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(50));
                }
                r
            }),
        );
        row(
            "hook: Edit denied (append)",
            20,
            Box::new(|| {
                let (t, k) = piped(&hook, &payload);
                (t, k, true)
            }),
        );
        let line = serde_json::json!({"session_id": "bench-new", "cwd": project}).to_string();
        row(
            "statusline",
            20,
            Box::new(|| {
                let (t, k) = piped(&statusline, &line);
                (t, k, true)
            }),
        );
    }
    println!();
    println!(
        "targets (1 000 000 events): stats ≤ 1 s and ≤ 100 MB; --rebuild ≤ 5 s and ≤ 150 MB; doctor ≤ 1 s; run never rebuilds on its hot path"
    );
}

/// The `p`th percentile of sorted timings (as `hook` takes its p99).
fn pct(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// A loopback OTLP/HTTP collector for the `telemetry` bench: one thread per connection, each
/// request read to its end (`content-length`), then answered `200` with an empty body, or
/// (`hang`) never answered: the connection is held until the client gives up. Records each
/// request's path. Lives until the bench exits.
struct Receiver {
    port: u16,
    paths: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    fn start(hang: bool) -> Receiver {
        use std::io::{BufRead, BufReader, Read};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = listener.local_addr().expect("local address").port();
        let paths = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = paths.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let seen = seen.clone();
                std::thread::spawn(move || {
                    // A client that went away without closing must not hold the thread forever.
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let Ok(read_half) = stream.try_clone() else {
                        return;
                    };
                    let mut reader = BufReader::new(read_half);
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
                        let mut length = 0usize;
                        loop {
                            let mut header = String::new();
                            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                                return;
                            }
                            let header = header.trim_end();
                            if header.is_empty() {
                                break;
                            }
                            if let Some((name, value)) = header.split_once(':')
                                && name.trim().eq_ignore_ascii_case("content-length")
                            {
                                length = value.trim().parse().unwrap_or(0);
                            }
                        }
                        let mut body = vec![0; length];
                        if reader.read_exact(&mut body).is_err() {
                            return;
                        }
                        seen.lock().expect("receiver log").push(path);
                        if hang {
                            // Never answer: read until the client closes (its deadline).
                            let mut sink = [0u8; 512];
                            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
                            return;
                        }
                        if stream
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Receiver { port, paths }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Requests received so far: all, to `/v1/metrics`, to `/v1/traces`.
    fn counts(&self) -> (usize, usize, usize) {
        let paths = self.paths.lock().expect("receiver log");
        let to = |p: &str| paths.iter().filter(|x| x.as_str() == p).count();
        (paths.len(), to("/v1/metrics"), to("/v1/traces"))
    }
}

/// Export on towards `endpoint` (both signals, http/protobuf, a 2 s deadline per request), or
/// off (`None`). Either way no `OTEL_*` variable of the bench's own environment gets through.
fn otel_env(cmd: &mut Command, endpoint: Option<&str>) {
    for name in shared::telemetry::VARS {
        cmd.env_remove(name);
    }
    if let Some(endpoint) = endpoint {
        cmd.env("OTEL_METRICS_EXPORTER", "otlp")
            .env("OTEL_TRACES_EXPORTER", "otlp")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            .env("OTEL_EXPORTER_OTLP_TIMEOUT", "2000");
    }
}

/// PIDs of the detached flushes (`offload __export`, `offload-hook __export`) working for one
/// of `homes`: a process whose first argument is the flush's and whose `OFFLOAD_HOME` is one of
/// these temp folders. Nothing else is looked at or touched.
fn flushes(homes: &[&Path]) -> Vec<libc::pid_t> {
    use std::os::unix::ffi::OsStrExt;
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|entry| {
            let pid: libc::pid_t = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let arg = cmdline.split(|&b| b == 0).nth(1)?;
            if arg != shared::telemetry::export::FLUSH_ARG.as_bytes() {
                return None;
            }
            let environ = std::fs::read(entry.path().join("environ")).ok()?;
            environ
                .split(|&b| b == 0)
                .filter_map(|kv| kv.strip_prefix(b"OFFLOAD_HOME="))
                .any(|home| homes.iter().any(|h| h.as_os_str().as_bytes() == home))
                .then_some(pid)
        })
        .collect()
}

/// Wait (at most `within`) until no flush works for `homes` and at most `lingering` for
/// `slow` (the hung collector's: it ends at its deadline, blocked on a read meanwhile).
/// Whether it got there.
fn settle(homes: &[&Path], slow: &[&Path], lingering: usize, within: Duration) -> bool {
    let until = Instant::now() + within;
    loop {
        if flushes(homes).is_empty() && flushes(slow).len() <= lingering {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The last error each destination's cursor holds in a state folder (`otel/*.{a,b}.json`:
/// the newer of its two copies).
fn cursor_errors(home: &Path) -> Vec<String> {
    let mut newest: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for e in std::fs::read_dir(home.join("otel"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(stem) = name
            .strip_suffix(".a.json")
            .or_else(|| name.strip_suffix(".b.json"))
        else {
            continue;
        };
        let Some(cursor) = std::fs::read(e.path())
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        else {
            continue;
        };
        let seq = |c: &serde_json::Value| c["seq"].as_u64().unwrap_or(0);
        if newest.get(stem).is_none_or(|old| seq(&cursor) > seq(old)) {
            newest.insert(stem.to_string(), cursor);
        }
    }
    let mut errors: Vec<String> = newest
        .values()
        .map(|cursor| {
            let signal = cursor["signal"].as_str().unwrap_or("?");
            match cursor["last_error"].as_str() {
                Some(err) => format!("{signal}: {err}"),
                None => format!("{signal}: no error, {} sent", cursor["sent"]),
            }
        })
        .collect();
    errors.sort();
    errors
}

fn telemetry_bench(
    runs: usize,
    hook_runs: usize,
    offload: &Path,
    hook: &Path,
    codex: Option<&Path>,
) {
    for (program, package) in [(offload, "offload"), (hook, "offload-hook")] {
        if !program.exists() {
            eprintln!(
                "offload-bench: {} not found; build it: cargo build --release -p {package}",
                program.display()
            );
            std::process::exit(1);
        }
    }
    let up = Receiver::start(false);
    let hung = Receiver::start(true);
    let down = format!(
        "http://127.0.0.1:{}",
        offload_testkit::responses::refused_port()
    );
    let endpoints = [up.url(), down, hung.url()];
    println!(
        "telemetry export, offload run: {runs} interleaved runs per case, {}",
        offload.display()
    );
    println!(
        "collectors: up {}, down {}, hung {} (OTEL_EXPORTER_OTLP_TIMEOUT=2000)",
        endpoints[0], endpoints[1], endpoints[2]
    );
    let mut answered = true;
    if let Some(codex) = codex {
        let version = Command::new(codex)
            .arg("--version")
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "real codex".into());
        let mock = MockResponses::start().expect("start the mock Responses server");
        mock.set_default(Reply::message("hi"));
        let home = CodexHome::new(&mock.base_url());
        answered &= export_runs(
            &format!("{version} + mock"),
            runs,
            offload,
            codex,
            &home,
            &endpoints,
            (&up, &hung),
        );
    } else {
        println!(
            "(real codex not installed: scripts/install-clients.sh codex; measuring the stand-in only)"
        );
    }
    let fake = workspace_root().join("tests/fixtures/fake-codex.sh");
    let home = CodexHome::new("http://127.0.0.1:9/v1");
    answered &= export_runs(
        "instant stand-in codex",
        runs,
        offload,
        &fake,
        &home,
        &endpoints,
        (&up, &hung),
    );
    if !answered {
        println!(
            "WARNING: the collector that is up received nothing: export did not happen, the figures above mean nothing"
        );
    }
    println!("target: ≤ 5 ms added to a run");
    println!();
    hook_export(hook_runs, hook, &up);
    println!("target: the hook unchanged");
}

/// One `offload run` per case per iteration, the cases in rotating order. Prints the table and
/// what the collectors received; whether the one that is up received requests.
fn export_runs(
    label: &str,
    runs: usize,
    offload: &Path,
    codex: &Path,
    home: &CodexHome,
    endpoints: &[String; 3],
    (up, hung): (&Receiver, &Receiver),
) -> bool {
    let names = [
        "export off",
        "on, collector up",
        "on, collector down",
        "on, collector hung",
    ];
    let states: Vec<tempfile::TempDir> = names
        .iter()
        .map(|_| tempfile::tempdir().expect("temp state folder"))
        .collect();
    let homes: Vec<&Path> = states.iter().map(|s| s.path()).collect();
    let (quick, slow) = (&homes[..3], &homes[3..]);
    let work = home.workdir();
    let wrapped = |case: usize| {
        let mut c = Command::new(offload);
        c.args(["run", "say hi", "read-only"])
            .arg(&work)
            .env("CODEX_BIN", codex)
            .env("OFFLOAD_HOME", homes[case])
            .env("OFFLOAD_RUNS_KEEP", "5")
            .env_remove("CLAUDE_CODE_SESSION_ID")
            .env_remove("OFFLOAD_SESSION_ID");
        otel_env(&mut c, (case > 0).then(|| endpoints[case - 1].as_str()));
        c
    };
    let (up0, hung0) = (up.counts(), hung.counts().0);
    let mut most = 0;
    let mut unsettled = 0;
    let mut run = |case: usize| {
        // The previous runs' flushes are over (the hung one's may linger on its read): none
        // works while this run is timed.
        most = most.max(flushes(&homes).len());
        if !settle(quick, slow, 1, Duration::from_secs(10)) {
            unsettled += 1;
        }
        time(wrapped(case), home)
    };
    // One warm-up of each (page cache, first rollout folder, first cursors).
    for case in 0..names.len() {
        run(case);
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    let mut diffs: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    for i in 0..runs {
        let mut took = [Duration::ZERO; 4];
        for k in 0..names.len() {
            let case = (i + k) % names.len();
            took[case] = run(case);
        }
        for case in 0..names.len() {
            times[case].push(took[case]);
            diffs[case].push(ms(took[case]) - ms(took[0]));
        }
    }
    // Every flush of these runs ends (the hung one at its deadlines, 2 × 2 s) before the
    // collectors' counts are read and the state folders go.
    let left = if settle(&homes, &[], 0, Duration::from_secs(15)) {
        Vec::new()
    } else {
        flushes(&homes)
    };
    for &pid in &left {
        // SAFETY: a signal to a flush found above by the temp state folder it works for.
        unsafe { libc::kill(pid, libc::SIGTERM) };
    }
    println!();
    println!("{label}:");
    println!(
        "  {:<22} {:>10} {:>10} {:>16}",
        "case", "median", "p90", "added (paired)"
    );
    for (case, name) in names.iter().enumerate() {
        let t = &mut times[case];
        t.sort();
        let d = &mut diffs[case];
        d.sort_by(f64::total_cmp);
        let added = if case == 0 {
            "-".to_string()
        } else {
            format!("{:+.1}ms", d[d.len() / 2])
        };
        println!(
            "  {:<22} {:>8.1}ms {:>8.1}ms {:>16}",
            name,
            ms(t[t.len() / 2]),
            ms(pct(t, 90)),
            added
        );
    }
    let (all, metrics, traces) = up.counts();
    let got = all - up0.0;
    println!(
        "  collector up received {got} requests ({} /v1/metrics, {} /v1/traces) from {} runs with export on",
        metrics - up0.1,
        traces - up0.2,
        runs + 1
    );
    println!(
        "  collector hung received {} requests, answered none; down: nothing listens",
        hung.counts().0 - hung0
    );
    for (case, name) in names.iter().enumerate().skip(1) {
        println!(
            "  {name}: cursors say {}",
            cursor_errors(homes[case]).join("; ")
        );
    }
    println!(
        "  detached flushes alive before a run, at most: {most}; runs that waited 10 s for them in vain: {unsettled}"
    );
    if !left.is_empty() {
        println!(
            "  {} flushes still running 15 s after the last run: ended (SIGTERM, by PID) {left:?}",
            left.len()
        );
    }
    got > 0
}

/// `offload-hook` with export off and on (towards `up`), interleaved per run.
fn hook_export(runs: usize, hook: &Path, up: &Receiver) {
    println!(
        "telemetry export, offload-hook: {runs} runs per case, off and on interleaved, {}",
        hook.display()
    );
    let dir = tempfile::tempdir().expect("temp folder");
    let project = dir.path().join("proj");
    std::fs::create_dir_all(project.join("src")).expect("project folder");
    let edit = serde_json::json!({
        "session_id": "bench-new", "cwd": project, "hook_event_name": "PreToolUse",
        "tool_name": "Edit", "tool_use_id": "toolu_1",
        "tool_input": {"file_path": project.join("src/lib.rs"), "old_string": "fn a()", "new_string": "fn b()", "replace_all": false}
    })
    .to_string();
    let bash = serde_json::json!({
        "session_id": "bench-new", "cwd": project, "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": "cargo test --workspace 2>&1 | tail -20", "description": "run tests"}
    })
    .to_string();
    let prompt = |text: &str| {
        serde_json::json!({
            "session_id": "bench", "transcript_path": "/dev/null", "cwd": project,
            "hook_event_name": "UserPromptSubmit", "prompt": text
        })
        .to_string()
    };
    let turn = || {
        Event::now(
            Some("bench"),
            Body::TurnStarted {
                prompt_id: None,
                project: Some(project.display().to_string()),
            },
        )
    };
    // (case, payload, denies, an event appended before each run, a flush due: the hook
    // starts one at most once a minute)
    let cases = [
        ("PreToolUse Bash, writes nothing", bash, false, false, false),
        ("PreToolUse Edit denied (records)", edit, true, false, false),
        (
            "UserPromptSubmit, a flush due",
            prompt("hello"),
            false,
            true,
            true,
        ),
        (
            "UserPromptSubmit, flushed < 1 min ago",
            prompt("hello"),
            false,
            true,
            false,
        ),
        (
            "UserPromptSubmit, nothing to send",
            // Records nothing (a background task's notice), so once a flush sent the ledger
            // there is nothing to send: the check alone.
            prompt("<task-notification>done</task-notification>"),
            false,
            false,
            true,
        ),
    ];
    println!();
    println!(
        "{:<38} {:<7} {:>9} {:>9} {:>9} {:>9}",
        "case", "export", "median", "p99", "max", "received"
    );
    for (n, (name, payload, denies, feed, due)) in cases.into_iter().enumerate() {
        // A state folder for off and one for on, each with a few unsent events.
        let states = [false, true].map(|on| {
            let home = dir
                .path()
                .join(format!("state-{n}-{}", if on { "on" } else { "off" }));
            let ledger = fill_ledger(&home, 0);
            ledger
                .append(&[Event::now(Some("bench-ok"), ok_attempt()), turn(), turn()])
                .expect("append");
            (home, ledger)
        });
        let homes: Vec<&Path> = states.iter().map(|(h, _)| h.as_path()).collect();
        let call = |on: bool| -> Duration {
            let (home, ledger) = &states[usize::from(on)];
            // The previous run's flush is over: the check finds what this run leaves.
            settle(&homes, &[], 0, Duration::from_secs(10));
            if feed {
                ledger.append(&[turn()]).expect("append");
            }
            if due
                && let Ok(f) = std::fs::File::options()
                    .write(true)
                    .open(home.join("otel/flush.lock"))
            {
                let _ = f.set_modified(std::time::SystemTime::now() - Duration::from_secs(120));
            }
            let mut cmd = Command::new(hook);
            cmd.env("OFFLOAD_HOME", home)
                .env("CLAUDE_PROJECT_DIR", &project)
                .env("HOME", dir.path())
                .env_remove("OFFLOAD_MODE")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::null());
            otel_env(&mut cmd, on.then(|| up.url()).as_deref());
            let start = Instant::now();
            let mut child = cmd.spawn().expect("spawn offload-hook");
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(payload.as_bytes())
                .expect("write stdin");
            let out = child.wait_with_output().expect("wait");
            let took = start.elapsed();
            let denied = String::from_utf8_lossy(&out.stdout).contains("\"deny\"");
            assert!(
                denied == denies && (denies || out.status.success()),
                "{name}: unexpected answer {:?} ({})",
                String::from_utf8_lossy(&out.stdout),
                out.status
            );
            took
        };
        // A warm-up each; on's flush sends the events written so far.
        call(false);
        call(true);
        settle(&homes, &[], 0, Duration::from_secs(10));
        let before = up.counts().0;
        let mut times = [Vec::new(), Vec::new()];
        for i in 0..runs {
            for on in [i % 2 == 1, i % 2 == 0] {
                times[usize::from(on)].push(call(on));
            }
        }
        settle(&homes, &[], 0, Duration::from_secs(10));
        let received = up.counts().0 - before;
        for (on, t) in times.iter_mut().enumerate() {
            t.sort();
            println!(
                "{:<38} {:<7} {:>7.2}ms {:>7.2}ms {:>7.2}ms {:>9}",
                if on == 0 { name } else { "" },
                if on == 0 { "off" } else { "on" },
                ms(t[t.len() / 2]),
                ms(pct(t, 99)),
                ms(*t.last().expect("runs > 0")),
                if on == 0 {
                    "-".to_string()
                } else {
                    received.to_string()
                }
            );
        }
    }
    println!("received: requests the collector got during the case's runs (a flush sends 2)");
}
