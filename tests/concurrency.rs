//! Many writers at once are normal (parallel Claude sessions, `--dual`, batches): 8 runner
//! processes make 200 attempts while 4 readers read the summaries the whole time.

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
