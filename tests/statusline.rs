//! `offload-statusline` as a process: after real `offload run` attempts (the real Codex CLI
//! against the mock, with rate-limit headers), and with a user's own statusline wrapped.

mod support;

use std::time::{Duration, Instant};

use chrono::{Local, TimeZone};
use offload_testkit::codex::{CodexHome, require_real_codex};
use offload_testkit::responses::{MockResponses, RateHeaders, Reply, Usage};
use serde_json::json;
use support::{Done, Run, Sandbox, workspace_bin};

fn statusline(sb: &Sandbox, stdin: &str, args: &[&str]) -> Done {
    Run::new(workspace_bin("offload-statusline"))
        .args(args)
        .env("OFFLOAD_HOME", sb.home())
        .env("CODEX_HOME", sb.codex_home())
        .env("NO_COLOR", "1")
        .stdin(stdin)
        .output()
}

#[test]
fn after_real_attempts_the_line_shows_tokens_successes_failures_and_limits() {
    let Some(codex) = require_real_codex() else {
        return;
    };
    let mock = MockResponses::start().unwrap();
    let reset = chrono::Utc::now().timestamp() + 2 * 3600;
    let limits = RateHeaders {
        primary_used: 42.5,
        primary_window_minutes: 300,
        primary_reset_at: reset,
        secondary_used: 13.0,
        secondary_window_minutes: 10080,
        secondary_reset_at: reset + 3 * 86400,
    };
    let usage = Usage {
        input: 1234,
        cached: 1000,
        output: 56,
        reasoning: 7,
    };
    mock.push(Reply::message("one").usage(usage).rate_limits(limits));
    mock.push(Reply::status(
        500,
        json!({"error": {"message": "boom", "type": "server_error"}}),
    ));
    mock.push(Reply::message("three").usage(usage).rate_limits(limits));
    let home = CodexHome::new(&mock.base_url());
    let sb = Sandbox::new();
    // The user's configured codex: these runs stand for Claude's (they carry its session).
    std::fs::create_dir_all(sb.home()).unwrap();
    std::fs::write(
        sb.home().join("config.json"),
        json!({"runner": {"codex_bin": codex}}).to_string(),
    )
    .unwrap();
    let run = |session: &str| {
        let mut r = sb
            .run()
            .args(["say hi", "read-only"])
            .env("CODEX_BIN", &codex)
            .env("CLAUDE_CODE_SESSION_ID", session)
            .env("CODEX_TIMEOUT", "60");
        for (k, v) in home.envs() {
            if k != "HOME" {
                r = r.env(&k, v);
            }
        }
        r.output()
    };
    run("sess-a").expect_code(0);
    run("sess-a").expect_code(20);
    run("sess-b").expect_code(0);

    let hhmm = Local
        .timestamp_opt(reset, 0)
        .unwrap()
        .format("%H:%M")
        .to_string();
    let out = statusline(&sb, r#"{"session_id":"sess-a"}"#, &[]).expect_code(0);
    assert_eq!(
        out.stdout(),
        format!("Offload C:1.3k Σ:2.6k | S/F C:1/1 | RL C:58%@{hhmm}\n")
    );
    let out = statusline(&sb, r#"{"session_id":"sess-b"}"#, &[]).expect_code(0);
    assert_eq!(
        out.stdout(),
        format!("Offload C:1.3k Σ:2.6k | S/F C:1/0 | RL C:58%@{hhmm}\n")
    );
    // With colour: the failure count is red.
    let colour = Run::new(workspace_bin("offload-statusline"))
        .env("OFFLOAD_HOME", sb.home())
        .env("CODEX_HOME", sb.codex_home())
        .stdin(r#"{"session_id":"sess-a"}"#)
        .output();
    assert!(
        colour.stdout().contains("S/F C:1/\x1b[31m1\x1b[0m"),
        "{:?}",
        colour.stdout()
    );
    // --explain names each segment's source.
    let out = statusline(&sb, r#"{"session_id":"sess-a"}"#, &["--explain"]);
    let text = out.stdout();
    assert!(text.contains("sessions/sess-a.json"), "{text}");
    assert!(text.contains("300-minute window, used 42.5%"), "{text}");
    assert!(text.contains("total"), "{text}");
}

#[test]
fn bad_input_and_missing_state_never_fail_the_line() {
    let sb = Sandbox::new();
    for stdin in ["", "not json", "[1,2]", "{\"session_id\":null}"] {
        let out = statusline(&sb, stdin, &[]).expect_code(0);
        assert_eq!(
            out.stdout(),
            "Offload C:-- Σ:0 | S/F C:--/-- | RL C:--\n",
            "{stdin:?}"
        );
    }
    let out = Run::new(workspace_bin("offload-statusline"))
        .env("OFFLOAD_HOME", "/nonexistent/offload")
        .env("CODEX_HOME", "/nonexistent/codex")
        .env("NO_COLOR", "1")
        .stdin(r#"{"session_id":"s"}"#)
        .output()
        .expect_code(0);
    assert_eq!(out.stdout(), "Offload C:0 Σ:0 | S/F C:0/0 | RL C:--\n");
}

#[test]
fn wrap_shows_the_users_line_and_survives_it_failing_or_hanging() {
    let sb = Sandbox::new();
    let stdin = r#"{"session_id":"s","model":{"display_name":"Opus"}}"#;
    // Their command gets the same stdin.
    let out = statusline(
        &sb,
        stdin,
        &[
            "--wrap",
            "jq -r .model.display_name 2>/dev/null || sed 's/.*display_name\":\"\\([^\"]*\\).*/\\1/'",
        ],
    );
    assert_eq!(
        out.stdout(),
        "Offload C:0 Σ:0 | S/F C:0/0 | RL C:--\nOpus\n"
    );
    let out = statusline(&sb, stdin, &["--wrap", "echo partial; exit 3"]);
    assert_eq!(
        out.stdout(),
        "Offload C:0 Σ:0 | S/F C:0/0 | RL C:--\n",
        "a failing command shows nothing"
    );
    std::fs::create_dir_all(sb.home()).unwrap();
    std::fs::write(
        sb.home().join("config.json"),
        r#"{"statusline":{"wrap_timeout_ms":300}}"#,
    )
    .unwrap();
    let pidfile = sb.file("wrapped.pid");
    let start = Instant::now();
    let out = statusline(
        &sb,
        stdin,
        &[
            "--wrap",
            &format!("echo $$ > {}; sleep 30; echo late", pidfile.display()),
        ],
    );
    let took = start.elapsed();
    assert_eq!(out.stdout(), "Offload C:0 Σ:0 | S/F C:0/0 | RL C:--\n");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let pid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        !support::alive_after(pid, 2000),
        "the hung command was ended"
    );
    // A limit out of range (1 to 10000 ms) is the default 1 s, never a wait without end.
    for bad in [u64::MAX.to_string(), "0".into(), "-1".into(), "1e20".into()] {
        std::fs::write(
            sb.home().join("config.json"),
            format!(r#"{{"statusline":{{"wrap_timeout_ms":{bad}}}}}"#),
        )
        .unwrap();
        let start = Instant::now();
        let out = statusline(&sb, stdin, &["--wrap", "sleep 30; echo late"]);
        assert_eq!(out.stdout(), "Offload C:0 Σ:0 | S/F C:0/0 | RL C:--\n");
        assert!(start.elapsed() < Duration::from_secs(5), "{bad}");
    }
}
