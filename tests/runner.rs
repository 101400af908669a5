//! `offload run` as a process, against the fake codex (fast, every ending on demand).
//! The same behaviour against the real Codex CLI is in `real_codex.rs`.

mod support;

use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

use shared::outcome::Outcome;
use support::{Sandbox, alive_after, repo_root};

#[test]
fn success_prints_the_answer_and_records_exact_tokens_and_command() {
    let sb = Sandbox::new();
    let log = sb.file("codex.log");
    let out = sb
        .run()
        .args(["say hi", "read-only", "."])
        .env("FAKE_CODEX_LOG", &log)
        .env("FAKE_CODEX_TEXT", "hi there")
        .output()
        .expect_code(0);
    assert_eq!(out.stdout(), "hi there\n");
    let err = out.stderr();
    assert!(err.contains("$ ls (exit 0)"), "progress on stderr: {err}");
    let summary = err.lines().last().unwrap();
    assert!(
        summary.starts_with("offload: ✓ success · gpt-5.4 · read-only"),
        "{summary}"
    );
    assert!(
        summary.contains("tokens 1.3k (in 1.2k, cached 1k, out 56, reasoning 7)"),
        "{summary}"
    );

    let f = &sb.finished()[0];
    assert_eq!(f.outcome, Outcome::Success);
    assert_eq!(
        (
            f.tokens.input,
            f.tokens.cached_input,
            f.tokens.output,
            f.tokens.reasoning,
            f.tokens.total
        ),
        (1234, 1000, 56, 7, 1290)
    );
    assert_eq!(f.cwd, sb.work().display().to_string());
    assert!(f.thread_id.as_deref().unwrap().starts_with("01a20c32-"));

    let logged = std::fs::read_to_string(&log).unwrap();
    let (_, rest) = logged.trim_end().split_once(' ').unwrap();
    let run_dir = sb.home().join("runs").join(&f.attempt);
    assert_eq!(
        rest,
        format!(
            "/dev/null exec --json --skip-git-repo-check -m gpt-5.4 -s read-only -C {} \
             -c model_reasoning_effort=\"xhigh\" -c approval_policy=\"never\" -o {}/last.txt -- say hi",
            sb.work().display(),
            run_dir.display()
        )
    );
    for file in ["stdout.jsonl", "stderr.txt", "last.txt", "result.json"] {
        assert!(run_dir.join(file).exists(), "{file} kept in the run folder");
    }
    let t = sb.ledger().totals().unwrap();
    assert_eq!((t.attempts, t.successes, t.tokens.total), (1, 1, 1290));
    let started = sb
        .events()
        .into_iter()
        .filter(|e| matches!(e.body, shared::ledger::Body::AttemptStarted(_)))
        .count();
    assert_eq!(started, 1, "the start is recorded (in the log only)");
}

#[test]
fn every_ending_has_its_outcome_and_exit_code() {
    let cases: [(&str, Outcome, i32); 6] = [
        ("fail500", Outcome::Failed, 12),
        ("limit", Outcome::Limited, 13),
        ("auth", Outcome::Limited, 13),
        ("noturn", Outcome::Failed, 12),
        ("badargs", Outcome::Failed, 12),
        ("success", Outcome::Success, 0),
    ];
    for (mode, outcome, open_code) in cases {
        let sb = Sandbox::new();
        let closed = if outcome.is_success() { 0 } else { 20 };
        let out = sb.run().arg("x").mode(mode).output().expect_code(closed);
        assert_eq!(
            out.stdout().is_empty(),
            !outcome.is_success(),
            "{mode}: answer only on success"
        );
        sb.run()
            .arg("x")
            .mode(mode)
            .env("CODEX_FAIL_CLOSED", "0")
            .output()
            .expect_code(open_code);
        sb.run()
            .args(["x", "--fail-closed=0"])
            .mode(mode)
            .output()
            .expect_code(open_code);
        let f = sb.finished();
        assert_eq!(f.len(), 3);
        assert!(f.iter().all(|f| f.outcome == outcome), "{mode}: {:?}", f[0]);
        assert_eq!(
            f.iter().map(|f| f.exit_code as i32).collect::<Vec<_>>(),
            vec![closed, open_code, open_code]
        );
    }
}

#[test]
fn failure_messages_say_why() {
    let sb = Sandbox::new();
    let out = sb.run().arg("x").mode("limit").output().expect_code(20);
    let f = &sb.finished()[0];
    assert!(
        f.error.as_deref().unwrap().contains("hit your usage limit"),
        "{:?}",
        f.error
    );
    assert!(out.stderr().contains("✗ limited"), "{}", out.stderr());
    sb.run().arg("x").mode("badargs").output().expect_code(20);
    assert!(
        sb.finished()[1]
            .error
            .as_deref()
            .unwrap()
            .contains("codex rejected its arguments (exit 2)"),
        "{:?}",
        sb.finished()[1].error
    );
}

#[test]
fn missing_codex_is_missing_and_recorded() {
    let sb = Sandbox::new();
    for (bin, closed, open) in [
        ("/nonexistent/codex", 20, 10),
        ("no-such-codex-here", 20, 10),
    ] {
        let out = sb
            .run()
            .arg("x")
            .env("CODEX_BIN", bin)
            .output()
            .expect_code(closed);
        assert!(out.stderr().contains("codex not found"), "{}", out.stderr());
        sb.run()
            .arg("x")
            .env("CODEX_BIN", bin)
            .env("CODEX_FAIL_CLOSED", "0")
            .output()
            .expect_code(open);
    }
    // Present but not executable.
    let plain = sb.file("codex");
    std::fs::write(&plain, "#!/bin/sh\n").unwrap();
    sb.run()
        .arg("x")
        .env("CODEX_BIN", &plain)
        .output()
        .expect_code(20);
    let f = sb.finished();
    assert_eq!(f.len(), 5);
    assert!(f.iter().all(|f| f.outcome == Outcome::Missing));
}

#[test]
fn timeout_ends_codex_and_everything_it_started() {
    let sb = Sandbox::new();
    let pids = sb.file("pids");
    let start = Instant::now();
    let out = sb
        .run()
        .arg("x")
        .mode("hang")
        .env("CODEX_TIMEOUT", "1")
        .env("FAKE_CODEX_PIDS", &pids)
        .output()
        .expect_code(20);
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(1), "{took:?}");
    let f = &sb.finished()[0];
    assert_eq!(f.outcome, Outcome::Timeout);
    assert!(
        out.stderr().contains("no result within 1s"),
        "{}",
        out.stderr()
    );
    for pid in std::fs::read_to_string(&pids).unwrap().lines() {
        assert!(
            !alive_after(pid.parse().unwrap(), 2000),
            "process {pid} outlived the attempt"
        );
    }
    sb.run()
        .args(["x", "--timeout", "500ms", "--fail-closed=0"])
        .mode("hang")
        .output()
        .expect_code(11);
}

#[test]
fn a_codex_that_ignores_sigterm_is_killed_after_the_grace() {
    let sb = Sandbox::new();
    let pids = sb.file("pids");
    let start = Instant::now();
    sb.run()
        .arg("x")
        .mode("stubborn")
        .env("CODEX_TIMEOUT", "0.5")
        .env("OFFLOAD_KILL_GRACE", "0.5")
        .env("FAKE_CODEX_PIDS", &pids)
        .output()
        .expect_code(20);
    assert!(
        start.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(sb.finished()[0].outcome, Outcome::Timeout);
    for pid in std::fs::read_to_string(&pids).unwrap().lines() {
        assert!(
            !alive_after(pid.parse().unwrap(), 2000),
            "process {pid} outlived the attempt"
        );
    }
}

/// Peak memory (KiB) of a finished child, and its exit code.
fn peak_of(mut cmd: std::process::Command) -> (Option<i32>, u64) {
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let child = cmd.spawn().unwrap();
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: waiting for the child this test spawned, with a zeroed rusage to fill.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::wait4(pid, &mut status, 0, &mut usage) }, pid);
    std::mem::forget(child);
    let code = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (code, usage.ru_maxrss as u64)
}

/// Output without bounds: 100 MB without a newline, or 300 000 lines (24 MB). Memory stays small,
/// the run folder keeps at most the cap and says what it left out, and the answer still counts.
#[test]
fn unbounded_codex_output_costs_bounded_memory_and_disk() {
    let sb = Sandbox::new();
    let (code, peak_kib) = peak_of(sb.run().arg("x").mode("zero").command());
    assert_eq!(code, Some(0));
    assert!(peak_kib < 64 << 10, "peak {} MiB", peak_kib >> 10);
    assert_eq!(sb.finished()[0].outcome, Outcome::Success);

    let sb = Sandbox::new();
    let (code, peak_kib) = peak_of(
        sb.run()
            .arg("x")
            .mode("flood")
            .env("OFFLOAD_MAX_OUTPUT_MB", "1")
            .command(),
    );
    assert_eq!(code, Some(0));
    assert!(peak_kib < 64 << 10, "peak {} MiB", peak_kib >> 10);
    let f = &sb.finished()[0];
    assert_eq!((f.outcome, f.tokens.input), (Outcome::Success, 1234));
    let kept = walk(&sb.home().join("runs"))
        .into_iter()
        .find(|p| p.ends_with("stdout.jsonl"))
        .unwrap();
    let text = std::fs::read_to_string(&kept).unwrap();
    assert!(text.len() < (1 << 20) + 4096, "{} bytes kept", text.len());
    assert!(text.trim_end().ends_with('}') && text.contains("offload.output_capped"));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// SIGKILL leaves offload no chance to end codex: codex and what it started still go, and
/// the attempt is closed as failed by the next reader or writer that notices.
#[test]
fn a_sigkilled_offload_leaves_no_codex_behind() {
    let sb = Sandbox::new();
    let pids = sb.file("pids");
    let mut cmd = sb
        .run()
        .arg("x")
        .mode("hang")
        .env("OFFLOAD_KILL_GRACE", "0.5")
        .env("FAKE_CODEX_PIDS", &pids)
        // The question for codex's model catalog hangs too, and leaves a daemon.
        .env("FAKE_CODEX_CATALOG_MODE", "hang")
        .command();
    cmd.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::read_to_string(&pids).map_or(true, |s| s.lines().count() < 4) {
        assert!(Instant::now() < deadline, "fake codex never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for pid in std::fs::read_to_string(&pids).unwrap().lines() {
        assert!(
            !alive_after(pid.parse().unwrap(), 3000),
            "process {pid} outlived a SIGKILLed offload"
        );
    }
}

/// A crash that leaves the log with a zero-filled tail (delayed allocation): the next run does
/// not read the damage on its own path (a background rebuild folds it), its memory stays small,
/// and the numbers stay true.
#[test]
fn a_zero_filled_log_tail_costs_the_next_run_nothing() {
    let sb = Sandbox::new();
    sb.run()
        .args(["a", "--session", "s1"])
        .output()
        .expect_code(0);
    let log = sb.home().join("events.jsonl");
    let f = std::fs::OpenOptions::new().write(true).open(&log).unwrap();
    f.set_len(f.metadata().unwrap().len() + (64 << 20)).unwrap();
    let (code, peak_kib) = peak_of(sb.run().args(["b", "--session", "s1"]).command());
    assert_eq!(code, Some(0));
    assert!(peak_kib < 32 << 10, "peak {} MiB", peak_kib >> 10);
    let out = support::Run::new(support::offload_bin())
        .args(["stats", "--json"])
        .env("OFFLOAD_HOME", sb.home())
        .output()
        .expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["total"]["attempts"], 2, "{v}");
}

/// A session id too long for a file name, and a file where the sessions' folder goes: the
/// summaries still follow the log (the file is kept aside).
#[test]
fn a_long_session_id_and_a_file_for_the_sessions_folder_keep_the_summaries_true() {
    let sb = Sandbox::new();
    let long = "s".repeat(300);
    for _ in 0..2 {
        sb.run()
            .args(["a", "--session", &long])
            .output()
            .expect_code(0);
    }
    let l = sb.ledger();
    assert_eq!(l.totals().unwrap().attempts, 2);
    assert_eq!(l.session(&long).unwrap().successes, 2);
    let sessions = sb.home().join("sessions");
    std::fs::remove_dir_all(&sessions).unwrap();
    std::fs::write(&sessions, "not a folder").unwrap();
    sb.run()
        .args(["b", "--session", "s1"])
        .output()
        .expect_code(0);
    assert!(sessions.is_dir());
    assert_eq!(l.session("s1").unwrap().successes, 1);
    assert_eq!(l.totals().unwrap().attempts, 3);
    let (folded, on_disk) = l.verify().unwrap();
    assert_eq!(folded, on_disk, "the summaries equal a rebuild");
    let kept = std::fs::read_dir(sb.home()).unwrap().flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .starts_with("sessions.aside-")
    });
    assert!(kept, "what was in the folder's place is kept");
}

/// A codex that kills offload and its reaper at once (what a codex told to "kill the stuck
/// offload processes" does) leaves itself and what it started running with no one above them:
/// the next `offload run` (or hook call) that closes the dead attempt ends them, by the tag
/// every process of the attempt carries, and the attempt is closed as failed once.
#[test]
fn a_codex_that_kills_offload_and_its_reaper_is_ended_by_the_next_run() {
    let sb = Sandbox::new();
    let pids = sb.file("pids");
    let out = sb
        .run()
        .args(["x", "--session", "s1"])
        .mode("killer")
        .env("FAKE_CODEX_PIDS", &pids)
        // Its catalog question hangs too, with a daemon of its own.
        .env("FAKE_CODEX_CATALOG_MODE", "hang")
        .command()
        .output()
        .unwrap();
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out:?}");
    let left: Vec<u32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(left.len() >= 2, "{left:?}");
    assert!(
        left.iter().filter(|&&pid| alive_after(pid, 0)).count() >= 2,
        "codex and what it left are running"
    );
    sb.run()
        .args(["y", "--session", "s1"])
        .output()
        .expect_code(0);
    for pid in left {
        assert!(
            !alive_after(pid, 2000),
            "process {pid} of the dead run outlived the next run"
        );
    }
    let finished = sb.finished();
    assert_eq!(
        finished.iter().map(|f| f.outcome).collect::<Vec<_>>(),
        [Outcome::Failed, Outcome::Success],
        "the dead attempt closed once, as failed"
    );
}

/// A process codex started that left its group (`setsid … &`) and holds its output open: the
/// run still ends when codex does, with what codex reported, and that process is ended.
#[test]
fn a_process_that_left_codexs_group_is_ended_and_the_answer_kept() {
    let sb = Sandbox::new();
    let pids = sb.file("pids");
    let start = Instant::now();
    sb.run()
        .arg("x")
        .mode("escape")
        .env("FAKE_CODEX_PIDS", &pids)
        .output()
        .expect_code(0);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    let f = &sb.finished()[0];
    assert_eq!((f.outcome, f.tokens.input), (Outcome::Success, 1234));
    for pid in std::fs::read_to_string(&pids).unwrap().lines() {
        assert!(
            !alive_after(pid.parse().unwrap(), 2000),
            "process {pid} outlived the attempt"
        );
    }
}

/// The user's stop (Claude Code's Esc, Ctrl-C): offload ends codex and records the attempt as
/// `interrupted`, apart from failures, with the exit code of the contract (20, or 1 with
/// fail-closed off).
#[test]
fn ctrl_c_sigterm_and_sighup_record_an_interrupted_attempt_and_end_codex() {
    for (sig, name, fail_closed, code) in [
        (libc::SIGINT, "SIGINT", "1", 20),
        (libc::SIGTERM, "SIGTERM", "1", 20),
        (libc::SIGTERM, "SIGTERM", "0", 1),
        (libc::SIGHUP, "SIGHUP", "1", 20),
    ] {
        let sb = Sandbox::new();
        let pids = sb.file("pids");
        let mut cmd = sb
            .run()
            .args(["x", "--session", "s1"])
            .mode("hang")
            .env("CODEX_FAIL_CLOSED", fail_closed)
            .env("FAKE_CODEX_PIDS", &pids)
            .command();
        cmd.stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let child = cmd.spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&pids).map_or(true, |s| s.lines().count() < 2) {
            assert!(Instant::now() < deadline, "fake codex never started");
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: signalling the offload process this test spawned, by its pid.
        unsafe {
            libc::kill(child.id() as i32, sig);
        }
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{name}: {err}");
        assert!(
            err.lines()
                .last()
                .unwrap()
                .starts_with("offload: ■ interrupted · "),
            "{name}: {err}"
        );
        let f = &sb.finished()[0];
        assert_eq!(f.outcome, Outcome::Interrupted, "{name}");
        assert_eq!(f.exit_code as i32, code);
        assert!(f.error.as_deref().unwrap().contains(name), "{:?}", f.error);
        for pid in std::fs::read_to_string(&pids).unwrap().lines() {
            assert!(
                !alive_after(pid.parse().unwrap(), 2000),
                "process {pid} outlived offload"
            );
        }
        // Counted apart: not a failure in the session's S/F nor in `offload stats`.
        let s = sb.ledger().session("s1").unwrap();
        assert_eq!((s.successes, s.failures, s.interrupted), (0, 0, 1));
        assert!(s.last_attempt.is_none(), "the guard passes over it");
        let stats = support::Run::new(support::offload_bin())
            .args(["stats", "--json"])
            .env("OFFLOAD_HOME", sb.home())
            .output()
            .expect_code(0);
        let v: serde_json::Value = serde_json::from_str(&stats.stdout()).unwrap();
        let t = &v["total"];
        assert_eq!(
            (
                &t["attempts"],
                &t["failures"],
                &t["interrupted"],
                &t["success_rate"]
            ),
            (
                &serde_json::json!(0),
                &serde_json::json!(0),
                &serde_json::json!(1),
                &serde_json::Value::Null
            ),
            "{v}"
        );
        assert_eq!(t["outcomes"], serde_json::json!({"interrupted": 1}));
        let text = support::Run::new(support::offload_bin())
            .arg("stats")
            .env("OFFLOAD_HOME", sb.home())
            .output()
            .expect_code(0)
            .stdout();
        assert!(
            text.contains("attempts  0 (✓ 0 ✗ 0) · 1 interrupted (stopped by the user"),
            "{text}"
        );
        // The tables show the stop in a column of its own.
        let header = text
            .lines()
            .find(|l| l.starts_with("day "))
            .unwrap_or_else(|| panic!("{text}"));
        assert!(header.contains("attempts  stopped  success"), "{text}");
    }
}

#[test]
fn legacy_forms_and_stdin_prompt() {
    let sb = Sandbox::new();
    let log = sb.file("codex.log");
    let other = sb.file("other");
    std::fs::create_dir_all(&other).unwrap();
    let o = other.display().to_string();
    sb.run()
        .args(["p1", &o])
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    sb.run()
        .args(["p2", &o, "read-only"])
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    sb.run()
        .args(["p3", "danger-full-access", &o])
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    sb.run()
        .args(["-", "read-only"])
        .stdin("p4 from stdin\n")
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    let lines: Vec<String> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    assert!(
        lines[0].contains(&format!("-s workspace-write -C {o} ")),
        "{}",
        lines[0]
    );
    assert!(lines[0].ends_with("-- p1"));
    assert!(
        lines[1].contains(&format!("-s read-only -C {o} ")),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].contains(&format!("-s danger-full-access -C {o} ")),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].contains(&format!("-s read-only -C {} ", sb.work().display())),
        "{}",
        lines[3]
    );
    assert!(lines[3].ends_with("-- p4 from stdin"), "{}", lines[3]);
}

#[test]
fn bad_arguments_exit_2_and_record_nothing() {
    let sb = Sandbox::new();
    for argv in [
        vec!["x", "nowhere-dir"],
        vec!["x", "read-only", "nowhere-dir"],
        vec!["x", "--timeout", "soon"],
        vec!["x", "--work-type", "poetry"],
        vec![""],
    ] {
        let out = sb.run().args(&argv).output().expect_code(2);
        assert!(!out.stderr().is_empty());
    }
    sb.run().arg("-").stdin("   \n").output().expect_code(2);
    assert!(sb.events().is_empty());
}

#[test]
fn a_timeout_flag_out_of_range_is_a_usage_error_naming_it() {
    let sb = Sandbox::new();
    for (bad, why) in [
        ("1e20", "is too large"),
        ("-1", "is negative"),
        ("NaN", "is not a number"),
        ("", "is empty"),
        ("0", "is too short"),
        ("18446744073709551615", "is too large"),
        ("99999999999999999999999999", "is too large"),
        ("25h", "is too long"),
        ("soon", "is neither seconds nor a duration"),
    ] {
        let out = sb
            .run()
            .args(["x", &format!("--timeout={bad}")])
            .output()
            .expect_code(2);
        let want = format!("offload: --timeout: {bad:?} {why}");
        assert!(
            out.stderr().starts_with(&want),
            "{want:?}: {}",
            out.stderr()
        );
        assert!(
            out.stderr().contains("(allowed: 100ms to 24h)"),
            "{}",
            out.stderr()
        );
    }
    assert!(sb.events().is_empty());
}

#[test]
fn a_model_or_effort_flag_codex_cannot_take_is_a_usage_error_naming_it() {
    let sb = Sandbox::new();
    let efforts = "(allowed: none, minimal, low, medium, high, xhigh, max, ultra)";
    for (flag, bad, said) in [
        (
            "--model",
            "",
            "offload: --model: the model name is empty (a model name is like gpt-6.2-sol",
        ),
        (
            "--model",
            "a b",
            "offload: --model: \"a b\" is not a model name: ' ' is not allowed (a model name is like gpt-6.2-sol",
        ),
        (
            "-m",
            "gpt;rm",
            "offload: --model: \"gpt;rm\" is not a model name: ';' is not allowed",
        ),
        (
            "--effort",
            "bogus",
            "offload: --effort: \"bogus\" is not a reasoning effort ",
        ),
        (
            "--effort",
            "High",
            "offload: --effort: \"High\" is not a reasoning effort ",
        ),
        (
            "--effort",
            "",
            "offload: --effort: \"\" is not a reasoning effort ",
        ),
    ] {
        let out = sb.run().args(["x", flag, bad]).output().expect_code(2);
        let err = out.stderr();
        assert!(err.starts_with(said), "{flag} {bad:?}: {err}");
        if flag == "--effort" {
            assert!(err.contains(efforts), "{err}");
        }
    }
    assert!(sb.events().is_empty(), "nothing was attempted");
}

#[test]
fn models_and_efforts_codex_cannot_take_in_config_warn_and_the_default_runs() {
    let sb = Sandbox::new();
    let log = sb.file("codex.log");
    std::fs::create_dir_all(sb.home()).unwrap();
    let cfg = sb.home().join("config.json");
    std::fs::write(
        &cfg,
        r#"{"runner": {"model_code": "", "model_logic": "gpt 5\n; rm", "effort": "bogus", "timeout": "30s"}}"#,
    )
    .unwrap();
    let file = cfg.display().to_string();
    for (work_type, model) in [("code", "gpt-5.3-codex"), ("analysis", "gpt-5.4")] {
        let out = sb
            .run()
            .args(["x", "--work-type", work_type])
            .env("FAKE_CODEX_LOG", &log)
            .output()
            .expect_code(0);
        let err = out.stderr();
        for part in [
            format!(
                "offload: warning: config {file}: runner.model_code: the model name is empty (a model name is like gpt-6.2-sol"
            ),
            format!(
                "offload: warning: config {file}: runner.model_logic: \"gpt 5\\n; rm\" is not a model name: ' ' is not allowed"
            ),
            format!(
                "offload: warning: config {file}: runner.effort: \"bogus\" is not a reasoning effort (allowed: none, minimal"
            ),
            "; using the default \"gpt-5.3-codex\"".into(),
            "; using the default \"xhigh\"".into(),
        ] {
            assert!(err.contains(&part), "{part:?} in {err}");
        }
        let summary = err.lines().last().unwrap();
        assert!(
            summary.starts_with(&format!("offload: ✓ success · {model} · ")),
            "{summary}"
        );
    }
    let logged = std::fs::read_to_string(&log).unwrap();
    assert_eq!(logged.lines().count(), 2, "{logged}");
    assert!(
        logged
            .lines()
            .all(|l| l.contains("-c model_reasoning_effort=\"xhigh\"")),
        "{logged}"
    );
    // From the environment: ignored, with a warning; the config's (default) value runs.
    let out = sb
        .run()
        .args(["x", "--json"])
        .env("CODEX_MODEL", "two words")
        .env("CODEX_EFFORT", "bogus")
        .output()
        .expect_code(0);
    let err = out.stderr();
    assert!(
        err.contains(
            "offload: warning: CODEX_MODEL: \"two words\" is not a model name: ' ' is not allowed"
        ),
        "{err}"
    );
    assert!(err.contains("; ignored, using \"gpt-5.4\""), "{err}");
    assert!(
        err.contains("offload: warning: CODEX_EFFORT: \"bogus\" is not a reasoning effort"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["model"], "gpt-5.4");
}

#[test]
fn numbers_out_of_range_in_config_and_environment_warn_and_the_run_goes_on() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.home()).unwrap();
    let cfg = sb.home().join("config.json");
    std::fs::write(
        &cfg,
        r#"{"runner": {"timeout": "1e20", "kill_grace": -1, "runs_keep": 1e20, "model": "cfg-model"}}"#,
    )
    .unwrap();
    let out = sb
        .run()
        .args(["x", "--json"])
        .env("CODEX_TIMEOUT", "NaN")
        .env("OFFLOAD_KILL_GRACE", "1e20")
        .env("OFFLOAD_RUNS_KEEP", "18446744073709551616")
        .env("OFFLOAD_MAX_OUTPUT_MB", "0")
        .output()
        .expect_code(0);
    let err = out.stderr();
    let file = cfg.display().to_string();
    for part in [
        format!(
            "config {file}: runner.timeout: \"1e20\" is too large (allowed: 100ms to 24h); using the default \"600\""
        ),
        format!(
            "config {file}: runner.kill_grace: -1 is negative (allowed: 0s to 60s); using the default \"3s\""
        ),
        format!("config {file}: runner.runs_keep: 1e+20 is out of range"),
        "CODEX_TIMEOUT: \"NaN\" is not a number (allowed: 100ms to 24h); ignored, using \"600\""
            .into(),
        "OFFLOAD_KILL_GRACE: \"1e20\" is too large".into(),
        "OFFLOAD_RUNS_KEEP: \"18446744073709551616\" is not a whole number of 0 to 1000000".into(),
        "OFFLOAD_MAX_OUTPUT_MB: \"0\" is not a whole number of 1 to 4096; ignored, using 64".into(),
    ] {
        assert!(err.contains(&part), "{part:?} in {err}");
    }
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["model"], "cfg-model", "the rest of the config applies");
}

/// `yes 'summarise this line' | head -c 200K | offload run - …`: more than Linux lets one
/// argument hold (128 KiB), so codex gets it on its stdin (`-`), a new thread and a resumed one
/// alike; a short prompt stays on the command line.
#[test]
fn a_prompt_too_long_for_the_command_line_goes_to_codex_on_stdin() {
    let sb = Sandbox::new();
    let log = sb.file("codex.log");
    let got = sb.file("prompt.got");
    let mut prompt = "summarise this line\n".repeat(200 * 1024 / 20);
    prompt.push_str("the end\n");
    let run = |extra: &[&str]| {
        sb.run()
            .args(extra)
            .args(["-", "read-only", "."])
            .stdin(&prompt)
            .env("FAKE_CODEX_LOG", &log)
            .env("FAKE_CODEX_PROMPT", &got)
            .output()
            .expect_code(0)
    };
    run(&[]);
    assert!(
        std::fs::read(&got).unwrap() == prompt.as_bytes(),
        "codex got the whole prompt"
    );
    let thread = sb.finished()[0].thread_id.clone().unwrap();
    std::fs::remove_file(&got).unwrap();
    run(&["--resume", &thread]);
    assert!(
        std::fs::read(&got).unwrap() == prompt.as_bytes(),
        "and when resumed"
    );
    let runs = logged_runs(&log);
    for (n, f) in sb.finished().iter().enumerate() {
        assert_eq!(f.outcome, Outcome::Success);
        let run_dir = sb.home().join("runs").join(&f.attempt);
        let line = &runs[n];
        assert!(
            line.starts_with(&format!("{} exec ", run_dir.join("prompt.txt").display())),
            "stdin is the run's prompt file: {line}"
        );
        assert!(line.ends_with(" -- -"), "{line}");
        assert!(line.len() < 2000, "not on the command line");
    }
    assert!(
        runs[1].contains(&format!(" resume {thread} -- -")),
        "{}",
        runs[1]
    );
    // A short one is an argument, as always.
    sb.run()
        .args(["-", "read-only"])
        .stdin("short\n")
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    assert!(logged_runs(&log)[2].starts_with("/dev/null exec "));
    assert!(logged_runs(&log)[2].ends_with(" -- short"));
}

/// `offload run - … < /dev/zero` is refused once the prompt passes 16 MiB, not read to the end
/// of memory.
#[test]
fn an_endless_prompt_on_stdin_is_refused_at_16_mib() {
    let sb = Sandbox::new();
    let started = Instant::now();
    // A bound on the test, never reached by a bounded read: an unbounded one is killed.
    let out = support::Run::new("sh")
        .args([
            "-c",
            "ulimit -v 4000000; exec timeout -s KILL 60 \"$0\" run - read-only . < /dev/zero",
        ])
        .arg(support::offload_bin())
        .env("OFFLOAD_HOME", sb.home())
        .env("CODEX_BIN", support::fake_codex())
        .current_dir(sb.work())
        .output();
    let err = out.stderr();
    assert_eq!(out.code(), 2, "{err}");
    assert!(
        err.starts_with("offload: the prompt from stdin is larger than 16 MiB"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(sb.events().is_empty(), "nothing was attempted");
}

#[test]
fn the_shim_accepts_the_same_forms() {
    let sb = Sandbox::new();
    let log = sb.file("codex.log");
    let shim = repo_root().join("skills/plan-and-execute/codex-runner.sh");
    let w = sb.work().display().to_string();
    for argv in [
        vec!["s1", "read-only", w.as_str()],
        vec!["s2", w.as_str()],
        vec!["s3", w.as_str(), "read-only"],
    ] {
        let out = support::Run::new("bash")
            .arg(&shim)
            .args(&argv)
            .env("OFFLOAD_BIN", support::offload_bin())
            .env("OFFLOAD_HOME", sb.home())
            .env("CODEX_HOME", sb.codex_home())
            .env("CODEX_BIN", support::fake_codex())
            .env("FAKE_CODEX_LOG", &log)
            .output()
            .expect_code(0);
        assert_eq!(out.stdout(), "fake answer\n");
    }
    let lines = std::fs::read_to_string(&log).unwrap();
    let sandboxes: Vec<&str> = lines
        .lines()
        .map(|l| l.split(" -s ").nth(1).unwrap().split(' ').next().unwrap())
        .collect();
    assert_eq!(sandboxes, ["read-only", "workspace-write", "read-only"]);
    // Without offload anywhere, the shim answers like a missing codex.
    let out = support::Run::new("bash")
        .arg(&shim)
        .arg("x")
        .env("OFFLOAD_BIN", "/nonexistent")
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", sb.dir.path())
        .env("PREFIX", sb.dir.path())
        .output()
        .expect_code(20);
    assert!(out.stderr().contains("offload is not installed"));
}

#[test]
fn sessions_come_from_flag_then_claude_then_offload_env() {
    let sb = Sandbox::new();
    sb.run()
        .arg("x")
        .env("CLAUDE_CODE_SESSION_ID", "claude-s")
        .env("OFFLOAD_SESSION_ID", "ours")
        .output()
        .expect_code(0);
    sb.run()
        .arg("x")
        .env("OFFLOAD_SESSION_ID", "ours")
        .output()
        .expect_code(0);
    sb.run()
        .args(["x", "--session", "flag-s"])
        .env("CLAUDE_CODE_SESSION_ID", "claude-s")
        .mode("fail500")
        .output()
        .expect_code(20);
    let out = sb.run().arg("x").output().expect_code(0);
    assert!(out.stderr().contains("no session"));
    let sessions: Vec<Option<String>> = sb
        .events()
        .into_iter()
        .filter(|e| matches!(e.body, shared::ledger::Body::AttemptFinished(_)))
        .map(|e| e.session)
        .collect();
    assert_eq!(
        sessions,
        [
            Some("claude-s".into()),
            Some("ours".into()),
            Some("flag-s".into()),
            None
        ]
    );
    let l = sb.ledger();
    assert_eq!(l.session("claude-s").unwrap().successes, 1);
    assert_eq!(l.session("flag-s").unwrap().failures, 1);
    assert_eq!(l.totals().unwrap().attempts, 4);
}

#[test]
fn dual_runs_both_models_and_succeeds_if_either_does() {
    let sb = Sandbox::new();
    let out = sb
        .run()
        .args(["compare", "--dual"])
        .env("FAKE_CODEX_FAIL_MODEL", "gpt-5.4")
        .output()
        .expect_code(0);
    let stdout = out.stdout();
    assert!(
        stdout.contains("=== gpt-5.3-codex (code): success ===\nfake answer\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("=== gpt-5.4 (logic): failed ==="),
        "{stdout}"
    );
    let mut f = sb.finished();
    f.sort_by(|a, b| a.model.cmp(&b.model));
    assert_eq!(
        f.iter()
            .map(|f| (f.model.as_str(), f.outcome, f.sandbox.as_str()))
            .collect::<Vec<_>>(),
        [
            ("gpt-5.3-codex", Outcome::Success, "read-only"),
            ("gpt-5.4", Outcome::Failed, "read-only")
        ]
    );
    let out = sb
        .run()
        .args(["compare", "--dual", "--json"])
        .mode("limit")
        .output()
        .expect_code(20);
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["outcome"], "limited");
    assert_eq!(v["attempts"].as_array().unwrap().len(), 2);
}

#[test]
fn json_result() {
    let sb = Sandbox::new();
    let out = sb
        .run()
        .args(["x", "--json", "--work-type", "code"])
        .output()
        .expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["outcome"], "success");
    assert_eq!(v["model"], "gpt-5.3-codex");
    assert_eq!(v["sandbox"], "workspace-write");
    assert_eq!(v["answer"], "fake answer");
    assert_eq!(v["tokens"]["total"], 1290);
    assert_eq!(v["recorded"], true);
}

/// The catalog of Codex CLI 0.171.0 (`debug models --bundled`, long texts trimmed): it lists
/// gpt-5.5, gpt-5.6-*, gpt-6*-* and not offload's default models.
fn real_catalog() -> std::path::PathBuf {
    repo_root().join("shared/tests/fixtures/codex/debug-models-bundled.json")
}

fn summary(err: &str) -> &str {
    err.lines().last().unwrap_or_default()
}

#[test]
fn the_summary_names_a_model_codex_does_not_know() {
    let sb = Sandbox::new();
    let out = sb
        .run()
        .args(["x", "read-only"])
        .env("FAKE_CODEX_CATALOG", real_catalog())
        .output()
        .expect_code(0);
    let err = out.stderr();
    assert!(
        summary(&err).starts_with(
            "offload: ✓ success · gpt-5.4 (not in codex 0.171.0's catalog: fallback metadata) · read-only · "
        ),
        "{err}"
    );
    // The attempt is recorded under the model's own name.
    assert_eq!(sb.finished()[0].model, "gpt-5.4");
    // A model in the catalog: nothing added. --dual names each on its own line.
    let out = sb
        .run()
        .args(["x", "read-only", "-m", "gpt-6.2-sol"])
        .env("FAKE_CODEX_CATALOG", real_catalog())
        .output()
        .expect_code(0);
    assert!(
        summary(&out.stderr()).starts_with("offload: ✓ success · gpt-6.2-sol · read-only · "),
        "{}",
        out.stderr()
    );
    let out = sb
        .run()
        .args(["x", "--dual", "--json"])
        .env("FAKE_CODEX_CATALOG", real_catalog())
        .output()
        .expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    for a in v["attempts"].as_array().unwrap() {
        assert_eq!(a["model_in_catalog"], false, "{a}");
        assert_eq!(
            a["model_note"], "not in codex 0.171.0's catalog: fallback metadata",
            "{a}"
        );
    }
    let err = out.stderr();
    assert!(
        err.contains("· gpt-5.3-codex (not in codex 0.171.0's catalog: fallback metadata) ·"),
        "{err}"
    );
    // The catalog is kept in the state folder, keyed by the codex binary.
    let cache = std::fs::read_to_string(sb.home().join("codex-models.json")).unwrap();
    assert!(cache.contains("gpt-6.2-sol"), "{cache}");
}

#[test]
fn an_unreadable_catalog_never_holds_a_run_and_codexs_own_word_still_counts() {
    let sb = Sandbox::new();
    // Garbage for a catalog: could not check; codex's notice about the model still shows.
    let out = sb
        .run()
        .args(["x", "--json"])
        .env("FAKE_CODEX_CATALOG", real_catalog())
        .env("FAKE_CODEX_CATALOG_MODE", "garbage")
        .output()
        .expect_code(0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(v["model_in_catalog"], serde_json::Value::Null, "{v}");
    assert_eq!(
        v["model_note"],
        "codex has no metadata for it: fallback metadata"
    );
    assert!(
        summary(&out.stderr())
            .contains("· gpt-5.4 (codex has no metadata for it: fallback metadata) ·"),
        "{}",
        out.stderr()
    );
    // A codex without the command (the default fake): nothing added, nothing else changes.
    let sb = Sandbox::new();
    let out = sb.run().args(["x"]).output().expect_code(0);
    assert!(
        summary(&out.stderr()).starts_with("offload: ✓ success · gpt-5.4 · workspace-write"),
        "{}",
        out.stderr()
    );
    // A catalog that never comes is not waited for once the run is done, and what the
    // question started (a daemon outside its group too) ends with the run.
    let sb = Sandbox::new();
    let pids = sb.file("pids");
    let start = Instant::now();
    let out = sb
        .run()
        .args(["x"])
        .env("FAKE_CODEX_CATALOG_MODE", "hang")
        .env("FAKE_CODEX_PIDS", &pids)
        .output()
        .expect_code(0);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    let left: Vec<u32> = std::fs::read_to_string(&pids)
        .unwrap()
        .lines()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(left.len(), 2);
    for pid in left {
        assert!(
            !alive_after(pid, 1000),
            "the catalog's process {pid} outlived the run"
        );
    }
    assert!(
        summary(&out.stderr()).starts_with("offload: ✓ success · gpt-5.4 · workspace-write"),
        "{}",
        out.stderr()
    );
    let start = Instant::now();
    sb.run()
        .args(["x"])
        .env("FAKE_CODEX_CATALOG_MODE", "hang")
        .output()
        .expect_code(0);
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "the second run did not wait again: {:?}",
        start.elapsed()
    );
}

#[test]
fn env_and_config_precedence() {
    let sb = Sandbox::new();
    let log = sb.file("codex.log");
    std::fs::create_dir_all(sb.home()).unwrap();
    std::fs::write(
        sb.home().join("config.json"),
        r#"{"runner":{"model":"cfg-model","effort":"low","model_code":"cfg-code"}}"#,
    )
    .unwrap();
    sb.run()
        .arg("x")
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    sb.run()
        .arg("x")
        .env("CODEX_MODEL", "env-model")
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    sb.run()
        .args(["x", "-m", "flag-model"])
        .env("CODEX_MODEL", "env-model")
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    sb.run()
        .args(["x", "--work-type", "review"])
        .env("CODEX_EFFORT", "medium")
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    let lines = std::fs::read_to_string(&log).unwrap();
    let got: Vec<(String, String)> = lines
        .lines()
        .map(|l| {
            let model = l
                .split(" -m ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_owned();
            let effort = l
                .split("model_reasoning_effort=")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .to_owned();
            (model, effort)
        })
        .collect();
    let want = [
        ("cfg-model", "\"low\""),
        ("env-model", "\"low\""),
        ("flag-model", "\"low\""),
        ("cfg-code", "\"medium\""),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_owned(), b.to_owned())));
}

#[test]
fn a_broken_config_warns_with_its_path_and_still_runs() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.home()).unwrap();
    let cfg = sb.home().join("config.json");
    std::fs::write(&cfg, "{\"runner\": [oops").unwrap();
    let out = sb.run().arg("x").output().expect_code(0);
    assert!(
        out.stderr()
            .contains(&format!("config {} is not valid", cfg.display())),
        "{}",
        out.stderr()
    );
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        "{\"runner\": [oops",
        "config untouched"
    );
}

#[test]
fn an_unrecordable_attempt_is_not_run() {
    let sb = Sandbox::new();
    let log = sb.file("codex.log");
    let not_a_dir = sb.file("state-is-a-file");
    std::fs::write(&not_a_dir, "").unwrap();
    let out = sb
        .run()
        .arg("x")
        .env("OFFLOAD_HOME", &not_a_dir)
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(20);
    assert!(out.stderr().contains("offload:"), "{}", out.stderr());
    assert!(
        !log.exists(),
        "codex must not run when the attempt cannot be recorded"
    );
}

#[test]
fn run_folders_are_kept_to_the_retention_limit() {
    let sb = Sandbox::new();
    for _ in 0..5 {
        sb.run()
            .arg("x")
            .env("OFFLOAD_RUNS_KEEP", "3")
            .output()
            .expect_code(0);
    }
    let runs: Vec<_> = std::fs::read_dir(sb.home().join("runs")).unwrap().collect();
    assert_eq!(runs.len(), 3);
    let kept: Vec<String> = sb
        .finished()
        .iter()
        .rev()
        .take(3)
        .map(|f| f.attempt.clone())
        .collect();
    for id in kept {
        assert!(
            sb.home().join("runs").join(&id).exists(),
            "newest kept: {id}"
        );
    }
    // A killed run's folder (no result) is kept while its run could still be going, and goes
    // once it cannot (older than the longest timeout).
    let runs = sb.home().join("runs");
    for (name, hours) in [
        ("20261101T000000.000Z-1", 30u64),
        ("20991231T000000.000Z-2", 0),
    ] {
        let dir = runs.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("stdout.jsonl"), "").unwrap();
        let when = std::time::SystemTime::now() - Duration::from_secs(hours * 3600);
        std::fs::File::open(&dir)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    sb.run()
        .arg("x")
        .env("OFFLOAD_RUNS_KEEP", "3")
        .output()
        .expect_code(0);
    assert!(
        !runs.join("20261101T000000.000Z-1").exists(),
        "a killed run's folder goes"
    );
    assert!(
        runs.join("20991231T000000.000Z-2").exists(),
        "one that may still run stays"
    );
}

/// A full disk under the state folder (a 2 MiB tmpfs in a private mount namespace: root only):
/// `offload run` exits 20 with a clear message and runs no codex, doctor says the folder
/// cannot be written, `--rebuild` fails without damage, and once space returns the next run is
/// recorded and the summaries equal the log.
#[test]
fn a_full_disk_is_a_clear_fail_closed_and_heals_when_space_returns() {
    // SAFETY: a plain query.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let sb = Sandbox::new();
    let disk = sb.file("disk");
    std::fs::create_dir_all(&disk).unwrap();
    let out_dir = sb.file("out");
    std::fs::create_dir_all(&out_dir).unwrap();
    let codex_log = sb.file("codex.log");
    let script = r#"
set -u
mount -t tmpfs -o size=2m tmpfs "$DISK" || exit 97
export OFFLOAD_HOME="$DISK/state"
"$OFFLOAD" run first >/dev/null 2>"$OUT/first.err"; echo $? > "$OUT/first.code"
head -c 4m /dev/zero > "$DISK/fill" 2>/dev/null
: > "$CODEX_LOG"
"$OFFLOAD" run full >/dev/null 2>"$OUT/full.err"; echo $? > "$OUT/full.code"
cp "$CODEX_LOG" "$OUT/codex-during-full.log"
"$OFFLOAD" doctor > "$OUT/doctor.txt" 2>&1
"$OFFLOAD" stats --rebuild > "$OUT/rebuild.txt" 2>&1; echo $? > "$OUT/rebuild.code"
rm -f "$DISK/fill"
"$OFFLOAD" run after >/dev/null 2>"$OUT/after.err"; echo $? > "$OUT/after.code"
"$OFFLOAD" stats --json > "$OUT/stats.json" 2>&1
cp -r "$OFFLOAD_HOME" "$OUT/state"
"#;
    let ran = support::Run::new("unshare")
        .args(["-m", "sh", "-c", script])
        .env("DISK", &disk)
        .env("OUT", &out_dir)
        .env("OFFLOAD", support::offload_bin())
        .env("CODEX_BIN", support::fake_codex())
        .env("CODEX_HOME", sb.codex_home())
        .env("FAKE_CODEX_LOG", &codex_log)
        .env("CODEX_LOG", &codex_log)
        .output();
    if ran.0.status.code() == Some(97) {
        eprintln!("skipped: cannot mount a tmpfs here: {}", ran.stderr());
        return;
    }
    let read = |f: &str| std::fs::read_to_string(out_dir.join(f)).unwrap_or_default();
    assert_eq!(read("first.code").trim(), "0", "{}", read("first.err"));
    // On a full disk a run either could not record its start (exit 20, no codex) or recorded
    // it in the log and says the summaries lag (its own exit code); never a silent loss.
    let full = read("full.code").trim().to_string();
    let full_err = read("full.err");
    assert!(full_err.contains("No space left on device"), "{full_err}");
    match full.as_str() {
        "20" => assert!(
            full_err.contains("could not be recorded") || full_err.contains("cannot"),
            "{full_err}"
        ),
        "0" => assert!(full_err.contains("recorded in the log"), "{full_err}"),
        other => panic!("exit {other}: {full_err}"),
    }
    assert!(
        read("doctor.txt").contains("cannot be written"),
        "{}",
        read("doctor.txt")
    );
    assert!(
        read("rebuild.txt").contains("No space left on device"),
        "{}",
        read("rebuild.txt")
    );
    assert_eq!(read("after.code").trim(), "0", "{}", read("after.err"));
    let stats: serde_json::Value = serde_json::from_str(&read("stats.json")).unwrap();
    let recorded = if full == "0" { 3 } else { 2 };
    assert_eq!(stats["total"]["successes"], recorded, "{stats}");
    assert_eq!(stats["skipped_lines"], 0, "no torn line was left: {stats}");
    let ledger =
        shared::ledger::Ledger::new(shared::paths::Paths::in_folder(out_dir.join("state")));
    let (folded, disk_summaries) = ledger.verify().unwrap();
    assert_eq!(folded, disk_summaries);
}

// ---------------------------------------------------------------------------------------------
// --resume: continuing a thread.

/// The run logged by the fake codex: `<stdin> <args…>` of each run, in order.
fn logged_runs(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split_once(' ').map_or("", |(_, rest)| rest).to_string())
        .collect()
}

fn started(sb: &Sandbox) -> Vec<shared::ledger::AttemptStarted> {
    sb.events()
        .into_iter()
        .filter_map(|e| match e.body {
            shared::ledger::Body::AttemptStarted(s) => Some(s),
            _ => None,
        })
        .collect()
}

fn five(t: &shared::ledger::Tokens) -> (u64, u64, u64, u64, u64) {
    (t.input, t.cached_input, t.output, t.reasoning, t.total)
}

#[test]
fn resume_last_continues_the_sessions_thread_and_records_the_turns_own_tokens() {
    let sb = Sandbox::new();
    let log = sb.file("codex.log");
    sb.run()
        .args(["look around", "read-only", "."])
        .args(["--model", "gpt-6.2-sol", "--session", "s"])
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);
    let thread = sb.finished()[0].thread_id.clone().unwrap();

    let out = sb
        .run()
        .args(["--resume", "last", "now fix the failing test"])
        .env("CLAUDE_CODE_SESSION_ID", "s")
        .env("FAKE_CODEX_LOG", &log)
        .output()
        .expect_code(0);

    // The same thread, its model kept, the default sandbox for the new work, the same folder.
    let f = &sb.finished()[1];
    let run_dir = sb.home().join("runs").join(&f.attempt);
    assert_eq!(
        logged_runs(&log)[1],
        format!(
            "/dev/null exec --json --skip-git-repo-check -m gpt-6.2-sol -s workspace-write -C {} \
             -c model_reasoning_effort=\"xhigh\" -c approval_policy=\"never\" -o {}/last.txt \
             resume {thread} -- now fix the failing test",
            sb.work().display(),
            run_dir.display()
        )
    );
    // The fake reports the thread's total (2 × 1234/1000/56/7); no rollout, so the turn's own
    // is that less what the ledger recorded for the thread.
    assert_eq!(f.thread_id.as_deref(), Some(thread.as_str()));
    assert_eq!(f.resumed_from.as_deref(), Some(thread.as_str()));
    assert_eq!(five(&f.tokens), (1234, 1000, 56, 7, 1290));
    assert_eq!(
        started(&sb)[1].resumed_from.as_deref(),
        Some(thread.as_str())
    );
    assert_eq!(started(&sb)[0].resumed_from, None);
    assert_eq!(sb.finished()[0].resumed_from, None);
    let summary = out.stderr().lines().last().unwrap().to_string();
    assert!(
        summary.contains("tokens 1.3k (in 1.2k, cached 1k, out 56, reasoning 7)")
            && summary.contains(&format!(" · continued thread {thread} · exit 0")),
        "{summary}"
    );
    // Sums over attempts are the thread's total, as codex reported it last.
    let t = sb.ledger().totals().unwrap();
    assert_eq!(five(&t.tokens), (2468, 2000, 112, 14, 2580));
    assert_eq!(
        five(&sb.ledger().session("s").unwrap().tokens),
        five(&t.tokens)
    );
    let help = sb.run().args(["--help"]).output().expect_code(0).stdout();
    assert!(help.contains("--resume <THREAD_ID|last>"), "{help}");
    let stats = support::Run::new(support::offload_bin())
        .args(["stats", "--json"])
        .env("OFFLOAD_HOME", sb.home())
        .output()
        .expect_code(0)
        .stdout();
    let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
    assert_eq!(stats["total"]["tokens"]["input"], 2468);
    assert_eq!(stats["total"]["tokens"]["total"], 2580);
    assert_eq!(stats["total"]["attempts"], 2);
}

#[test]
fn resume_subtracts_what_the_rollout_says_the_thread_used_before() {
    let sb = Sandbox::new();
    sb.run().arg("first").output().expect_code(0);
    let thread = sb.finished()[0].thread_id.clone().unwrap();
    // The thread's rollout (the fake writes none) says more than the ledger recorded: codex's
    // own count wins.
    let day = &shared::codex::rollout::day_dirs(&sb.codex_home(), chrono::Utc::now())[1];
    std::fs::create_dir_all(day).unwrap();
    std::fs::write(
        day.join(format!("rollout-2026-11-29T00-00-00-{thread}.jsonl")),
        r#"{"timestamp":"2026-11-29T00:00:00Z","type":"event_msg","payload":{"type":"token_count","info":{"total_token_usage":{"input_tokens":2000,"cached_input_tokens":1500,"output_tokens":100,"reasoning_output_tokens":10,"total_tokens":2100}},"rate_limits":null}}
"#,
    )
    .unwrap();

    let out = sb
        .run()
        .args([
            "--resume",
            &thread,
            "--json",
            "--work-type",
            "code",
            "go on",
        ])
        .output()
        .expect_code(0);

    let f = &sb.finished()[1];
    assert_eq!(five(&f.tokens), (468, 500, 12, 4, 480));
    assert_eq!(f.model, "gpt-5.3-codex", "--work-type picks the model");
    let json: serde_json::Value = serde_json::from_str(out.stdout().trim()).unwrap();
    assert_eq!(json["thread_id"], thread.as_str());
    assert_eq!(json["tokens"]["input"], 468);
    assert_eq!(json["resume"]["thread_id"], thread.as_str());
    assert_eq!(json["resume"]["tokens_before_from"], "rollout");
    assert_eq!(json["resume"]["tokens_before"]["input"], 2000);
    assert_eq!(json["resume"]["tokens_reported"]["input"], 2468);
    // A third turn: the rollout still says 2000 (the fake does not write it), codex 3 × 1234.
    sb.run()
        .args(["--resume", &thread, "more"])
        .output()
        .expect_code(0);
    assert_eq!(sb.finished()[2].tokens.input, 3 * 1234 - 2000);
}

#[test]
fn resume_last_prefers_the_session_then_the_folder() {
    let sb = Sandbox::new();
    let other = sb.file("other");
    std::fs::create_dir_all(&other).unwrap();
    // This session's thread is in the work folder; a newer thread of another session is in
    // the other folder.
    sb.run()
        .args(["a", "--session", "mine"])
        .output()
        .expect_code(0);
    sb.run()
        .args(["b", "--session", "theirs"])
        .current_dir(&other)
        .output()
        .expect_code(0);
    let [mine, theirs] = [0, 1].map(|i| sb.finished()[i].thread_id.clone().unwrap());
    let resumed = |i: usize| sb.finished()[i].resumed_from.clone().unwrap();

    // A session with no thread: the folder's newest.
    sb.run()
        .args(["--resume", "last", "c", "--session", "fresh"])
        .current_dir(&other)
        .output()
        .expect_code(0);
    assert_eq!(resumed(2), theirs);
    // This session's thread, though another is newer in this folder.
    sb.run()
        .args(["--resume", "last", "d", "--session", "mine"])
        .current_dir(&other)
        .output()
        .expect_code(0);
    assert_eq!(resumed(3), mine);
    // No session, the folder given as an argument: its newest is now the thread continued
    // there last.
    sb.run()
        .args(["--resume", "last", "e", "read-only"])
        .arg(&other)
        .output()
        .expect_code(0);
    assert_eq!(resumed(4), mine);
    assert_eq!(sb.finished()[4].cwd, other.display().to_string());
}

#[test]
fn resume_with_nothing_to_continue_or_a_bad_id_is_a_usage_error_and_runs_nothing() {
    let sb = Sandbox::new();
    let log = sb.file("codex.log");
    let run = |args: &[&str]| {
        sb.run()
            .args(args)
            .env("FAKE_CODEX_LOG", &log)
            .output()
            .expect_code(2)
            .stderr()
    };
    let err = run(&["--resume", "last", "x", "--session", "s"]);
    assert!(
        err.contains(
            "offload has recorded no Codex thread for this Claude Code session (s) nor for"
        ),
        "{err}"
    );
    assert!(err.contains("--resume <thread-id>"), "{err}");
    let err = run(&["--resume", "last", "x"]);
    assert!(err.contains("no Claude Code session is known"), "{err}");
    let err = run(&["--resume", "not-a-thread", "x"]);
    assert!(err.contains("is not a codex thread id"), "{err}");
    let err = run(&["--resume", "last", "--dual", "x"]);
    assert!(err.contains("--dual"), "{err}");
    assert!(sb.events().is_empty(), "nothing recorded");
    assert!(!log.exists(), "codex not run");
}

#[test]
fn resuming_a_thread_codex_does_not_have_fails_and_says_so() {
    let sb = Sandbox::new();
    let unknown = "01a22949-b252-7403-8c20-000000000000";
    let out = sb
        .run()
        .args(["--resume", unknown, "x", "--fail-closed=0"])
        .output()
        .expect_code(12);
    let f = &sb.finished()[0];
    assert_eq!(f.outcome, Outcome::Failed);
    assert_eq!(f.resumed_from.as_deref(), Some(unknown));
    assert_eq!(
        f.error.as_deref(),
        Some(
            "codex exited 1: Error: thread/resume: thread/resume failed: no rollout found for \
             thread id 01a22949-b252-7403-8c20-000000000000 (code -32600)"
        )
    );
    let summary = out.stderr().lines().last().unwrap().to_string();
    assert!(
        summary.contains(&format!(
            "continued thread {unknown} (its earlier tokens unknown: counted in full)"
        )),
        "{summary}"
    );
}
