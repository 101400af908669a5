//! The mock Responses server against the real Codex CLI (0.171.0, `.tools/bin/codex`).
//!
//! These tests pin down how the real `codex exec` reacts to each kind of server reply, so the
//! rest of offload can rely on [`offload_testkit`] to stand in for the real service. Without the
//! real codex they skip (and fail on CI: run `scripts/install-clients.sh`).
//!
//! `OFFLOAD_CAPTURE_FIXTURES=1 cargo test -p offload-testkit --test real_codex` also writes the
//! captured payloads to `shared/tests/fixtures/codex/` (see the README there).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use offload_testkit::codex::{
    CodexHome, ExecOutput, read_jsonl, require_real_codex, workspace_root,
};
use offload_testkit::responses::{MockResponses, RateHeaders, Reply, Usage, refused_port};
use serde_json::{Value, json};

/// Generous: a run takes well under a second; this only bounds a broken one.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a run against a silent server is watched before we end it ourselves.
const HANG_WATCH: Duration = Duration::from_secs(3);

/// Writes a payload to `shared/tests/fixtures/codex/NAME` when `OFFLOAD_CAPTURE_FIXTURES` is set.
fn capture(name: &str, contents: &str) {
    if std::env::var_os("OFFLOAD_CAPTURE_FIXTURES").is_some_and(|v| !v.is_empty()) {
        let dir = workspace_root().join("shared/tests/fixtures/codex");
        fs::create_dir_all(&dir).expect("create the fixtures folder");
        fs::write(dir.join(name), contents).expect("write a fixture");
    }
}

fn capture_file(name: &str, path: &Path) {
    capture(name, &fs::read_to_string(path).expect("read the rollout"));
}

/// Context for assertion messages.
fn shown(out: &ExecOutput) -> String {
    format!(
        "code {:?}, signal {:?}, {:?}\n--- stdout\n{}--- stderr\n{}",
        out.code, out.signal, out.elapsed, out.stdout, out.stderr
    )
}

fn only_rollout(home: &CodexHome) -> PathBuf {
    let rollouts = home.rollouts();
    assert_eq!(rollouts.len(), 1, "one rollout expected: {rollouts:?}");
    rollouts.into_iter().next().unwrap()
}

/// The `rate_limits` of the last `token_count` event of the `codex` limit family.
fn last_codex_rate_limits(rollout: &Path) -> Value {
    read_jsonl(rollout)
        .into_iter()
        .filter(|e| e["type"] == "event_msg" && e["payload"]["type"] == "token_count")
        .map(|e| e["payload"]["rate_limits"].clone())
        .rfind(|limits| limits["limit_id"] == "codex")
        .expect("a token_count event with codex rate limits")
}

fn failure_message(out: &ExecOutput) -> String {
    let failed = out
        .last_event("turn.failed")
        .unwrap_or_else(|| panic!("no turn.failed: {}", shown(out)));
    failed["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_plain_answer_reports_its_message_and_exact_usage() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let mock = MockResponses::with_script(vec![Reply::message("hi from mock").usage(Usage {
        input: 1234,
        cached: 1000,
        output: 56,
        reasoning: 7,
    })])
    .unwrap();
    let home = CodexHome::new(&mock.base_url());

    let out = home.exec(&codex, "say hi", RUN_TIMEOUT);

    assert_eq!(out.code, Some(0), "{}", shown(&out));
    assert_eq!(out.agent_messages(), ["hi from mock"], "{}", shown(&out));
    let completed = out.last_event("turn.completed").expect("turn.completed");
    assert_eq!(
        completed["usage"],
        json!({"input_tokens": 1234, "cached_input_tokens": 1000, "cache_write_input_tokens": 0,
               "output_tokens": 56, "reasoning_output_tokens": 7})
    );
    assert_eq!(home.last_message().as_deref(), Some("hi from mock"));
    let requests = mock.requests();
    assert_eq!(requests.len(), 1, "codex made one request: {requests:?}");
    assert_eq!(requests[0].path, "/v1/responses");
    assert_eq!(requests[0].header("authorization"), Some("Bearer dummy"));
    assert_eq!(requests[0].body["model"], "gpt-5.5");
    capture("exec-success.jsonl", &out.stdout);
}

#[test]
fn rate_limit_headers_end_up_in_the_rollout() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let limits = RateHeaders::used(42.5, 13.0);
    let mock = MockResponses::with_script(vec![Reply::message("hi").rate_limits(limits)]).unwrap();
    let home = CodexHome::new(&mock.base_url());

    let out = home.exec(&codex, "say hi", RUN_TIMEOUT);

    assert_eq!(out.code, Some(0), "{}", shown(&out));
    assert!(
        !out.stdout.contains("used_percent"),
        "rate limits are not in --json output"
    );
    let rollout = only_rollout(&home);
    let thread_id = out.thread_id().expect("thread id");
    assert!(
        rollout
            .to_string_lossy()
            .ends_with(&format!("-{thread_id}.jsonl"))
    );
    let rate_limits = last_codex_rate_limits(&rollout);
    assert_eq!(
        rate_limits["primary"],
        json!({"used_percent": 42.5, "window_minutes": 300, "resets_at": limits.primary_reset_at})
    );
    assert_eq!(
        rate_limits["secondary"],
        json!({"used_percent": 13.0, "window_minutes": 10080, "resets_at": limits.secondary_reset_at})
    );
    capture_file("rollout-rate-limits.jsonl", &rollout);
}

#[test]
fn a_tool_call_is_run_and_its_output_sent_back() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let mock = MockResponses::with_script(vec![
        Reply::tool_call(
            "exec_command",
            "call_1",
            json!({"cmd": "echo offload-tool-ok"}),
        ),
        Reply::message("done"),
    ])
    .unwrap();
    let home = CodexHome::new(&mock.base_url());

    let out = home.exec(&codex, "run echo", RUN_TIMEOUT);

    assert_eq!(out.code, Some(0), "{}", shown(&out));
    let turns = mock.responses_requests();
    assert_eq!(
        turns.len(),
        2,
        "codex answers the tool call with a second request"
    );
    let output = turns[1].body["input"]
        .as_array()
        .expect("input items")
        .iter()
        .find(|item| item["type"] == "function_call_output" && item["call_id"] == "call_1")
        .cloned()
        .expect("a function_call_output for call_1");
    assert!(
        output["output"]
            .as_str()
            .unwrap()
            .contains("offload-tool-ok"),
        "{output}"
    );
    let executed = out
        .events()
        .into_iter()
        .find(|e| e["type"] == "item.completed" && e["item"]["type"] == "command_execution")
        .expect("a command_execution item");
    assert_eq!(executed["item"]["exit_code"], 0);
    assert_eq!(executed["item"]["aggregated_output"], "offload-tool-ok\n");
    assert_eq!(out.agent_messages(), ["done"]);
    // Usage in turn.completed sums both model requests of the turn.
    assert_eq!(
        out.last_event("turn.completed").unwrap()["usage"]["input_tokens"],
        200
    );
    capture("exec-tool-call.jsonl", &out.stdout);
}

#[test]
fn a_resumed_thread_reports_cumulative_usage() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let mock = MockResponses::with_script(vec![
        Reply::message("first").usage(Usage {
            input: 1000,
            cached: 200,
            output: 50,
            reasoning: 5,
        }),
        Reply::message("second").usage(Usage {
            input: 1500,
            cached: 1000,
            output: 30,
            reasoning: 3,
        }),
    ])
    .unwrap();
    let home = CodexHome::new(&mock.base_url());
    let first = home.exec(&codex, "say hi", RUN_TIMEOUT);
    assert_eq!(first.code, Some(0), "{}", shown(&first));
    let thread_id = first.thread_id().expect("thread id");
    capture("exec-resume-first.jsonl", &first.stdout);

    let out = home.run(
        &codex,
        &home.resume_args(&thread_id, "say hi again"),
        RUN_TIMEOUT,
    );

    assert_eq!(out.code, Some(0), "{}", shown(&out));
    assert_eq!(out.thread_id().as_deref(), Some(thread_id.as_str()));
    assert_eq!(out.agent_messages(), ["second"]);
    assert_eq!(
        out.last_event("turn.completed").unwrap()["usage"],
        json!({"input_tokens": 2500, "cached_input_tokens": 1200, "cache_write_input_tokens": 0,
               "output_tokens": 80, "reasoning_output_tokens": 8})
    );
    assert_eq!(
        home.rollouts().len(),
        1,
        "resume appends to the thread's rollout"
    );
    capture("exec-resume.jsonl", &out.stdout);
}

#[test]
fn a_429_usage_limit_fails_the_turn() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let limits = RateHeaders::used(100.0, 40.0);
    let mock = MockResponses::with_script(vec![
        Reply::usage_limit(limits.primary_reset_at).rate_limits(limits),
    ])
    .unwrap();
    let home = CodexHome::new(&mock.base_url());

    let out = home.exec(&codex, "say hi", RUN_TIMEOUT);

    assert_eq!(out.code, Some(1), "{}", shown(&out));
    assert!(
        failure_message(&out).contains("hit your usage limit"),
        "{}",
        shown(&out)
    );
    assert_eq!(mock.responses_requests().len(), 1, "no retries");
    let rollout = only_rollout(&home);
    assert_eq!(
        last_codex_rate_limits(&rollout)["primary"]["used_percent"],
        100.0
    );
    let task_complete = read_jsonl(&rollout)
        .into_iter()
        .rfind(|e| e["payload"]["type"] == "task_complete")
        .expect("task_complete");
    assert_eq!(
        task_complete["payload"]["error"]["codex_error_info"],
        "usage_limit_exceeded"
    );
    assert_eq!(
        home.last_message().as_deref(),
        Some(""),
        "-o file is empty on failure"
    );
    capture("exec-usage-limit.jsonl", &out.stdout);
    capture_file("rollout-usage-limit.jsonl", &rollout);
}

#[test]
fn a_401_names_the_status() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let body = json!({"error": {"message": "Incorrect API key provided: dummy.",
                                "type": "invalid_request_error", "code": "invalid_api_key"}});
    let mock = MockResponses::with_script(vec![Reply::status(401, body)]).unwrap();
    let home = CodexHome::new(&mock.base_url());

    let out = home.exec(&codex, "say hi", RUN_TIMEOUT);

    assert_eq!(out.code, Some(1), "{}", shown(&out));
    assert!(failure_message(&out).contains("401"), "{}", shown(&out));
    capture("exec-unauthorized.jsonl", &out.stdout);
}

#[test]
fn a_500_fails_the_turn() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let body = json!({"error": {"message": "boom", "type": "server_error"}});
    let mock = MockResponses::with_script(vec![Reply::status(500, body)]).unwrap();
    let home = CodexHome::new(&mock.base_url());

    let out = home.exec(&codex, "say hi", RUN_TIMEOUT);

    assert_eq!(out.code, Some(1), "{}", shown(&out));
    assert!(!failure_message(&out).is_empty(), "{}", shown(&out));
    assert_eq!(
        mock.responses_requests().len(),
        1,
        "request_max_retries = 0: no retries"
    );
    capture("exec-failed-500.jsonl", &out.stdout);
}

#[test]
fn a_stream_without_response_completed_fails_the_turn() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let mock = MockResponses::with_script(vec![Reply::incomplete("partial")]).unwrap();
    let home = CodexHome::new(&mock.base_url());

    let out = home.exec(&codex, "say hi", RUN_TIMEOUT);

    assert_eq!(out.code, Some(1), "{}", shown(&out));
    assert!(
        failure_message(&out).contains("response.completed"),
        "{}",
        shown(&out)
    );
    capture("exec-incomplete.jsonl", &out.stdout);
}

/// With the server silent or gone, codex never exits by itself: the caller must end it.
fn assert_still_running(out: &ExecOutput) {
    assert!(out.timed_out, "codex exited by itself: {}", shown(out));
    assert!(out.last_event("turn.failed").is_none(), "{}", shown(out));
    assert!(out.last_event("turn.completed").is_none(), "{}", shown(out));
    assert!(
        out.elapsed < HANG_WATCH + Duration::from_secs(3),
        "SIGTERM to the process group ends codex at once: {}",
        shown(out)
    );
}

#[test]
fn a_server_that_never_answers_keeps_codex_waiting() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let mock = MockResponses::with_script(vec![Reply::hang_before_headers()]).unwrap();
    let home = CodexHome::new(&mock.base_url());
    assert_still_running(&home.exec(&codex, "say hi", HANG_WATCH));
}

#[test]
fn a_stream_that_never_starts_keeps_codex_waiting() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let mock = MockResponses::with_script(vec![Reply::hang_after_headers()]).unwrap();
    let home = CodexHome::new(&mock.base_url());
    assert_still_running(&home.exec(&codex, "say hi", HANG_WATCH));
}

#[test]
fn a_server_that_is_down_keeps_codex_retrying() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let home = CodexHome::new(&format!("http://127.0.0.1:{}/v1", refused_port()));
    let out = home.exec(&codex, "say hi", HANG_WATCH);
    assert_still_running(&out);
    let warning = out.last_event("error").expect("a non-fatal error event");
    assert!(
        warning["message"]
            .as_str()
            .unwrap()
            .starts_with("Reconnecting..."),
        "{warning}"
    );
    capture("exec-server-down.jsonl", &out.stdout);
}
