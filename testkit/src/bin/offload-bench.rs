//! Benchmarks that print figures (never timed assertions).
//!
//!   offload-bench runner [--runs N] [--offload PATH] [--codex PATH]
//!   offload-bench hook [--runs N] [--hook PATH]
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

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
        Some("hook") => {
            let runs = flag("--runs")
                .and_then(|r| r.parse().ok())
                .unwrap_or(300usize);
            let hook = flag("--hook")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace_root().join("target/release/offload-hook"));
            hook_bench(runs, &hook);
        }
        _ => {
            eprintln!("usage: offload-bench runner [--runs N] [--offload PATH] [--codex PATH]");
            eprintln!("       offload-bench hook [--runs N] [--hook PATH]");
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
    use shared::ledger::{AttemptFinished, Body, Event, Ledger, Tokens};
    use shared::outcome::Outcome;
    use shared::paths::Paths;
    use std::io::Write;

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
        let ledger = Ledger::new(Paths::in_folder(home.clone()));
        if events > 0 {
            // Write the log directly (one append per event would take minutes), then let the
            // ledger rebuild its summaries from it, as `offload stats --rebuild` does.
            std::fs::create_dir_all(&home).expect("state folder");
            let mut log = std::io::BufWriter::new(
                std::fs::File::create(home.join("events.jsonl")).expect("log"),
            );
            for i in 0..events {
                let ev = Event::now(
                    Some(&format!("old-{}", i % 500)),
                    Body::AttemptFinished(Box::new(AttemptFinished {
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
        }
        let ok_session = "bench-ok";
        ledger
            .append(&[Event::now(
                Some(ok_session),
                Body::AttemptFinished(Box::new(AttemptFinished {
                    attempt: "ok".into(),
                    outcome: Outcome::Success,
                    exit_code: 0,
                    codex_exit: Some(0),
                    model: "m".into(),
                    sandbox: "workspace-write".into(),
                    work_type: None,
                    cwd: "/w".into(),
                    duration_ms: 1,
                    tokens: Tokens::default(),
                    thread_id: None,
                    error: None,
                })),
            )])
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
