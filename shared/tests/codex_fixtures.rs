//! The parsers against payloads captured from the real Codex CLI 0.169.0
//! (`fixtures/codex/README.md` says how each was made).

use std::path::PathBuf;

use shared::codex::events::{Item, Observation, ThreadEvent, is_limit_message};
use shared::codex::resume::turn_own;
use shared::codex::rollout::{last_snapshot, snapshot_from_line};
use shared::outcome::{Ending, Outcome, classify};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/codex")
        .join(name)
}

fn observe(name: &str) -> Observation {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    let mut o = Observation::default();
    for line in text.lines() {
        assert!(
            o.feed(line).is_some(),
            "{name}: every captured line is an event: {line}"
        );
    }
    o
}

fn outcome(name: &str, exit: i32) -> Outcome {
    let end = Ending {
        exit_code: Some(exit),
        ..Ending::default()
    };
    classify(&observe(name), &end, "").0
}

#[test]
fn success() {
    let o = observe("exec-success.jsonl");
    assert_eq!(
        o.thread_id.as_deref(),
        Some("01a20c4a-a5ff-7792-8016-3e1e51903e20")
    );
    assert_eq!(o.last_message.as_deref(), Some("hi from mock"));
    let t = o.usage.unwrap().tokens();
    assert_eq!(
        (t.input, t.cached_input, t.output, t.reasoning, t.total),
        (1234, 1000, 56, 7, 1290)
    );
    assert_eq!(outcome("exec-success.jsonl", 0), Outcome::Success);
}

#[test]
fn tool_call() {
    let text = std::fs::read_to_string(fixture("exec-tool-call.jsonl")).unwrap();
    let commands: Vec<(String, Option<i64>, String)> = text
        .lines()
        .filter_map(ThreadEvent::parse)
        .filter_map(|e| match e {
            ThreadEvent::ItemCompleted {
                item:
                    Item::CommandExecution {
                        command,
                        exit_code,
                        aggregated_output,
                        ..
                    },
            } => Some((command, exit_code, aggregated_output)),
            _ => None,
        })
        .collect();
    assert_eq!(
        commands,
        [(
            "/bin/bash -lc 'echo offload-tool-ok'".to_string(),
            Some(0),
            "offload-tool-ok\n".to_string()
        )]
    );
    let o = observe("exec-tool-call.jsonl");
    assert_eq!(o.commands, 1);
    assert_eq!(o.usage.unwrap().tokens().total, 220);
    assert_eq!(outcome("exec-tool-call.jsonl", 0), Outcome::Success);
}

#[test]
fn failures() {
    assert_eq!(outcome("exec-failed-500.jsonl", 1), Outcome::Failed);
    assert_eq!(outcome("exec-incomplete.jsonl", 1), Outcome::Failed);
    assert_eq!(outcome("exec-usage-limit.jsonl", 1), Outcome::Limited);
    assert_eq!(outcome("exec-unauthorized.jsonl", 1), Outcome::Limited);
    let o = observe("exec-usage-limit.jsonl");
    assert!(is_limit_message(o.failure_message().unwrap()));
    assert!(o.usage.is_none());
    // Server down: codex never ends by itself; the Reconnecting error is only a warning.
    let down = observe("exec-server-down.jsonl");
    assert!(down.turn_failed.is_none() && !down.turn_completed);
    assert!(down.errors[0].starts_with("Reconnecting..."));
}

#[test]
fn resume_usage_is_cumulative_and_the_turns_own_is_the_difference() {
    let first = observe("exec-resume-first.jsonl").usage.unwrap().tokens();
    let second = observe("exec-resume.jsonl").usage.unwrap().tokens();
    assert_eq!((first.input, first.output, first.total), (1000, 50, 1050));
    assert_eq!(
        (
            second.input,
            second.cached_input,
            second.output,
            second.reasoning,
            second.total
        ),
        (2500, 1200, 80, 8, 2580)
    );
    assert!(
        second.input >= first.input,
        "the resumed turn reports the thread's running total"
    );
    // What offload records for the resumed attempt: the mock's second reply, 1500/1000/30/3.
    let own = turn_own(second, first);
    assert_eq!(
        (
            own.input,
            own.cached_input,
            own.output,
            own.reasoning,
            own.total
        ),
        (1500, 1000, 30, 3, 1530)
    );
}

#[test]
fn resuming_a_thread_codex_does_not_have_names_it() {
    // codex 0.171.0 printed nothing on stdout, this on stderr (a backtrace after the error),
    // and exited 1.
    let stderr = std::fs::read_to_string(fixture("exec-resume-unknown-thread.stderr")).unwrap();
    let end = Ending {
        exit_code: Some(1),
        ..Ending::default()
    };
    let (outcome, message) = classify(&Observation::default(), &end, &stderr);
    assert_eq!(outcome, Outcome::Failed);
    assert_eq!(
        message.as_deref(),
        Some(
            "codex exited 1: Error: thread/resume: thread/resume failed: no rollout found for \
             thread id 01a22949-b252-7403-8c20-000000000000 (code -32600)"
        )
    );
}

#[test]
fn rollout_with_rate_limit_headers() {
    let s = last_snapshot(&fixture("rollout-rate-limits.jsonl"), 1 << 20)
        .unwrap()
        .unwrap();
    let five = s.five_hour().unwrap();
    let week = s.weekly().unwrap();
    assert_eq!((five.used_percent, week.used_percent), (42.5, 13.0));
    assert!(five.resets_at.unwrap() < week.resets_at.unwrap());
    assert!(s.captured_at.is_some());
}

#[test]
fn rollout_with_two_limit_families_and_null_info() {
    let path = fixture("rollout-two-families.jsonl");
    let s = last_snapshot(&path, 1 << 20).unwrap().unwrap();
    assert_eq!(
        s.five_hour().unwrap().used_percent,
        42.5,
        "the last codex snapshot, not the other family's"
    );
    assert_eq!(s.weekly().unwrap().used_percent, 13.0);
    let text = std::fs::read_to_string(&path).unwrap();
    let codex: Vec<f64> = text
        .lines()
        .filter_map(snapshot_from_line)
        .map(|s| s.five_hour().unwrap().used_percent)
        .collect();
    assert_eq!(
        codex,
        [10.0, 42.5],
        "info: null lines still carry limits; the other family is skipped"
    );
}

#[test]
fn rollout_after_a_usage_limit() {
    let s = last_snapshot(&fixture("rollout-usage-limit.jsonl"), 1 << 20)
        .unwrap()
        .unwrap();
    assert_eq!(s.five_hour().unwrap().used_percent, 100.0);
}
