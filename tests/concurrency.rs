//! Many writers at once are normal (parallel Claude sessions, `--dual`, batches): 8 runner
//! processes make 200 attempts while 4 readers read the summaries the whole time; 16 writers
//! of 300 attempts each with 8 real hooks and 4 real statuslines at once; a large log rebuilt
//! in the background.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use shared::ledger::{Body, SessionSummary, Totals};
use support::Sandbox;

const RUNNERS: usize = 8;
const PER_RUNNER: usize = 25;
const SESSIONS: [&str; 4] = ["s-a", "s-b", "s-c", "s-d"];

#[test]
fn eight_runners_and_four_readers_over_200_attempts() {
    let sb = Arc::new(Sandbox::new());
    let stop = Arc::new(AtomicBool::new(false));

    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (sb, stop) = (sb.clone(), stop.clone());
            std::thread::spawn(move || {
                let paths = sb.ledger().paths().clone();
                let session = SESSIONS[i];
                let (mut reads, mut last_total, mut last_session) = (0u64, 0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    if let Ok(bytes) = std::fs::read(paths.totals()) {
                        let t: Totals = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                            panic!("half-written totals.json ({e}): {bytes:?}")
                        });
                        assert!(t.attempts >= last_total, "totals went backwards");
                        last_total = t.attempts;
                        reads += 1;
                    }
                    if let Ok(bytes) = std::fs::read(paths.session(session)) {
                        let s: SessionSummary = serde_json::from_slice(&bytes)
                            .unwrap_or_else(|e| panic!("half-written session summary ({e})"));
                        assert!(s.attempts >= last_session, "session went backwards");
                        last_session = s.attempts;
                        reads += 1;
                    }
                }
                reads
            })
        })
        .collect();

    let runners: Vec<_> = (0..RUNNERS)
        .map(|r| {
            let sb = sb.clone();
            std::thread::spawn(move || {
                for i in 0..PER_RUNNER {
                    let session = SESSIONS[(r + i) % SESSIONS.len()];
                    let mode = if i % 5 == 0 { "fail500" } else { "success" };
                    let out = sb
                        .run()
                        // Many runs on one project at once, on purpose.
                        .arg("--parallel")
                        .arg(format!("task {r}-{i}"))
                        .env("CLAUDE_CODE_SESSION_ID", session)
                        .mode(mode)
                        .output();
                    assert_eq!(
                        out.code(),
                        if mode == "success" { 0 } else { 20 },
                        "{}",
                        out.stderr()
                    );
                }
            })
        })
        .collect();
    for r in runners {
        r.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let reads: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(
        reads > 100,
        "the readers really read while writers wrote ({reads})"
    );

    let ledger = sb.ledger();
    let log = ledger.read_log().unwrap();
    assert_eq!((log.skipped, log.torn_tail), (0, false));
    let total = RUNNERS * PER_RUNNER;
    let mut started = HashSet::new();
    let mut finished = HashSet::new();
    for e in &log.events {
        match &e.body {
            Body::AttemptStarted(s) => {
                assert!(started.insert(s.attempt.clone()), "twice: {}", s.attempt)
            }
            Body::AttemptFinished(f) => {
                assert!(finished.insert(f.attempt.clone()), "twice: {}", f.attempt)
            }
            _ => {}
        }
    }
    assert_eq!((started.len(), finished.len()), (total, total));
    assert_eq!(started, finished);

    let t = ledger.totals().unwrap();
    let failures = RUNNERS * PER_RUNNER.div_ceil(5);
    assert_eq!(
        (t.attempts as usize, t.failures as usize),
        (total, failures)
    );
    assert_eq!(t.tokens.total as usize, (total - failures) * 1290);
    let per_session: u64 = SESSIONS
        .iter()
        .map(|s| ledger.session(s).unwrap().attempts)
        .sum();
    assert_eq!(per_session as usize, total);

    let (folded, on_disk) = ledger.verify().unwrap();
    assert_eq!(folded, on_disk, "summaries equal a rebuild from the log");
    let out = support::Run::new(support::offload_bin())
        .args(["stats", "--rebuild"])
        .env("OFFLOAD_HOME", sb.home())
        .output()
        .expect_code(0);
    assert!(
        out.stdout().contains("they were already right"),
        "{}",
        out.stdout()
    );
}

/// A large log whose totals are gone: `offload run` does not fold it on its own path but
/// starts a background rebuild, which brings every summary back to the log's.
#[test]
fn a_large_log_is_rebuilt_in_the_background_not_by_the_run() {
    use std::io::Write;
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.home()).unwrap();
    let mut log =
        std::io::BufWriter::new(std::fs::File::create(sb.home().join("events.jsonl")).unwrap());
    let mut n = 0u64;
    while log.get_ref().metadata().unwrap().len() + log.buffer().len() as u64
        <= shared::ledger::INLINE_REBUILD_MAX + (1 << 20)
    {
        let ev = shared::ledger::Event::now(
            Some(&format!("old-{}", n % 50)),
            Body::GuardDenied {
                tool: "Edit".into(),
                reason: "route-first: a reason long enough to make the log grow quickly".into(),
                warn: false,
            },
        );
        serde_json::to_writer(&mut log, &ev).unwrap();
        log.write_all(b"\n").unwrap();
        n += 1;
    }
    log.flush().unwrap();
    drop(log);
    assert!(sb.ledger().totals().is_none(), "no summaries yet");
    sb.run().arg("x").output().expect_code(0);
    assert!(
        sb.home().join("rebuild.pid").exists(),
        "the run left the fold to a background rebuild"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if let Some(t) = sb.ledger().totals()
            && t.attempts == 1
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no background rebuild"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let (folded, disk) = sb.ledger().verify().unwrap();
    assert_eq!(folded, disk);
    assert_eq!(
        disk.totals.lines,
        n + 2,
        "every line: the denials, the run's start and end"
    );
}

/// The ledger at team scale on one machine: 16 writers of 300 attempts each (start and finish
/// appended separately, as `offload run` does), 8 real hooks recording denials and 4 real
/// statuslines reading, all at once. No attempt is lost or doubled, every denial is there, and
/// the summaries equal a rebuild from the log.
#[test]
fn sixteen_writers_of_300_attempts_with_hooks_and_statuslines() {
    use shared::ledger::{AttemptFinished, AttemptStarted, Event, Ledger, Tokens};
    use shared::outcome::Outcome;
    const WRITERS: usize = 16;
    const ATTEMPTS: usize = 300;
    let sb = Arc::new(Sandbox::new());
    let project = sb.work();
    std::fs::create_dir_all(project.join("src")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let hook = support::workspace_bin("offload-hook");
    let statusline = support::workspace_bin("offload-statusline");

    let hooks: Vec<_> = (0..8)
        .map(|h| {
            let (sb, stop, hook, project) = (sb.clone(), stop.clone(), hook.clone(), project.clone());
            std::thread::spawn(move || {
                let mut denied = 0u64;
                let payload = serde_json::json!({
                    "session_id": format!("hook-{h}"), "cwd": project, "hook_event_name": "PreToolUse",
                    "tool_name": "Edit", "tool_use_id": "t",
                    "tool_input": {"file_path": project.join("src/lib.rs"), "old_string": "a", "new_string": "b"}
                })
                .to_string();
                while !stop.load(Ordering::Relaxed) {
                    let out = support::Run::new(&hook)
                        .env("OFFLOAD_HOME", sb.home())
                        .env("CLAUDE_PROJECT_DIR", &project)
                        .stdin(&payload)
                        .output();
                    assert_eq!(out.code(), 0, "{}", out.stderr());
                    assert!(out.stdout().contains("\"deny\""), "{}", out.stdout());
                    assert!(
                        !out.stderr().contains("could not record"),
                        "a denial was dropped: {}",
                        out.stderr()
                    );
                    denied += 1;
                }
                denied
            })
        })
        .collect();
    let readers: Vec<_> = (0..4)
        .map(|i| {
            let (sb, stop, statusline) = (sb.clone(), stop.clone(), statusline.clone());
            std::thread::spawn(move || {
                let mut renders = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let out = support::Run::new(&statusline)
                        .env("OFFLOAD_HOME", sb.home())
                        .stdin(&format!("{{\"session_id\":\"w-{i}\"}}"))
                        .output();
                    assert_eq!(out.code(), 0, "{}", out.stderr());
                    assert!(out.stdout().starts_with("Offload"), "{}", out.stdout());
                    renders += 1;
                }
                renders
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let sb = sb.clone();
            std::thread::spawn(move || {
                let ledger = Ledger::new(sb.ledger().paths().clone());
                for i in 0..ATTEMPTS {
                    let attempt = format!("w{w}-{i}");
                    let session = format!("w-{}", w % 4);
                    let start = Event::now(
                        Some(&session),
                        Body::AttemptStarted(AttemptStarted {
                            attempt: attempt.clone(),
                            model: "m".into(),
                            sandbox: "workspace-write".into(),
                            work_type: None,
                            cwd: "/w".into(),
                            pid: std::process::id(),
                            resumed_from: None,
                        }),
                    );
                    ledger.append(&[start]).unwrap();
                    let outcome = if i % 7 == 0 {
                        Outcome::Failed
                    } else {
                        Outcome::Success
                    };
                    let end = Event::now(
                        Some(&session),
                        Body::AttemptFinished(Box::new(AttemptFinished {
                            unconfigured_codex: None,
                            attempt,
                            outcome,
                            exit_code: outcome.exit_code(true),
                            codex_exit: Some(0),
                            model: "m".into(),
                            sandbox: "workspace-write".into(),
                            work_type: None,
                            cwd: "/w".into(),
                            duration_ms: 1,
                            tokens: Tokens {
                                input: 10,
                                cached_input: 0,
                                output: 1,
                                reasoning: 0,
                                total: 11,
                            },
                            thread_id: None,
                            error: None,
                            resumed_from: None,
                            job: None,
                            trace: None,
                        })),
                    );
                    ledger.append(&[end]).unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let denied: u64 = hooks.into_iter().map(|h| h.join().unwrap()).sum();
    let renders: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(
        denied > 50 && renders > 50,
        "hooks {denied}, statuslines {renders}"
    );

    let ledger = sb.ledger();
    let log = ledger.read_log().unwrap();
    assert_eq!((log.skipped, log.torn_tail), (0, false));
    let mut finished = HashSet::new();
    let mut denials = 0u64;
    for e in &log.events {
        match &e.body {
            Body::AttemptFinished(f) => {
                assert!(finished.insert(f.attempt.clone()), "twice: {}", f.attempt)
            }
            Body::GuardDenied { .. } => denials += 1,
            _ => {}
        }
    }
    assert_eq!(finished.len(), WRITERS * ATTEMPTS);
    assert_eq!(denials, denied, "every denial the hooks gave is in the log");
    let (folded, on_disk) = ledger.verify().unwrap();
    assert_eq!(folded, on_disk, "summaries equal a rebuild from the log");
    assert_eq!(on_disk.totals.attempts as usize, WRITERS * ATTEMPTS);
}
