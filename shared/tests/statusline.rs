//! The statusline as a function: given this stdin (captured from Claude Code 2.1.330 and
//! 2.1.197), this ledger and these rollouts, this line.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, Local, Utc};

use shared::codex::rollout::{RateLimitSnapshot, RateWindow};
use shared::ledger::{AttemptFinished, Body, Event, Ledger, Tokens};
use shared::outcome::Outcome;
use shared::paths::Paths;
use shared::statusline::{Env, compose, rate};

const SID_330: &str = "7aff736b-f505-443c-8a2d-ab475bff56cc";

fn fixture(version: &str, name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/claude")
            .join(version)
            .join(name),
    )
    .unwrap()
}

struct World {
    dir: tempfile::TempDir,
    now: DateTime<Utc>,
    no_color: bool,
}

impl World {
    fn new() -> World {
        World {
            dir: tempfile::tempdir().unwrap(),
            now: Utc::now(),
            no_color: true,
        }
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn codex_home(&self) -> PathBuf {
        self.dir.path().join("codex")
    }
    fn ledger(&self) -> Ledger {
        Ledger::new(Paths::in_folder(self.state()))
    }
    fn attempt(&self, session: Option<&str>, outcome: Outcome, input: u64, output: u64) {
        self.ledger()
            .append(&[Event::now(
                session,
                Body::AttemptFinished(Box::new(AttemptFinished {
                    unconfigured_codex: None,
                    attempt: "a".into(),
                    outcome,
                    exit_code: 0,
                    codex_exit: Some(0),
                    model: "gpt-5.3-codex".into(),
                    sandbox: "read-only".into(),
                    work_type: None,
                    cwd: "/w".into(),
                    duration_ms: 5,
                    tokens: Tokens {
                        input,
                        cached_input: 0,
                        output,
                        reasoning: 0,
                        total: input + output,
                    },
                    thread_id: None,
                    error: None,
                    resumed_from: None,
                    job: None,
                    trace: None,
                })),
            )])
            .unwrap();
    }
    fn recorded_limits(&self, used: f64, resets_in: Duration, captured_ago: Duration) {
        self.ledger()
            .append(&[Event::now(
                None,
                Body::RateLimits(RateLimitSnapshot {
                    captured_at: Some(self.now - captured_ago),
                    windows: vec![
                        RateWindow {
                            window_minutes: 300,
                            used_percent: used,
                            resets_at: Some((self.now + resets_in).timestamp()),
                        },
                        RateWindow {
                            window_minutes: 10080,
                            used_percent: 13.0,
                            resets_at: Some((self.now + Duration::days(3)).timestamp()),
                        },
                    ],
                    plan_type: None,
                }),
            )])
            .unwrap();
    }
    fn rollout(&self, name: &str, text: &str) {
        let dir = &rate::day_dirs(&self.codex_home(), self.now)[0];
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(name), text).unwrap();
    }
    fn line(&self, stdin: &[u8]) -> String {
        compose(
            stdin,
            &Env {
                paths: Paths::in_folder(self.state()),
                codex_home: Some(self.codex_home()),
                session_env: None,
                no_color: self.no_color,
                now: self.now,
                home: Some(self.dir.path().join("home")),
            },
        )
        .line
    }
}

fn hhmm(t: DateTime<Utc>) -> String {
    t.with_timezone(&Local).format("%H:%M").to_string()
}

#[test]
fn a_fresh_install_shows_zeros_and_no_limits() {
    let w = World::new();
    for version in ["2.1.330", "2.1.197"] {
        for f in ["statusline-first.json", "statusline-later.json"] {
            assert_eq!(
                w.line(&fixture(version, f)),
                "Offload C:0 Σ:0 | S/F C:0/0 | RL C:--",
                "{version} {f}"
            );
        }
    }
}

#[test]
fn session_and_all_time_numbers() {
    let w = World::new();
    w.attempt(Some(SID_330), Outcome::Success, 12_000, 400);
    w.attempt(Some(SID_330), Outcome::Failed, 0, 0);
    w.attempt(Some("other"), Outcome::Success, 1_300_000, 0);
    w.attempt(None, Outcome::Success, 1_000, 0);
    w.recorded_limits(42.5, Duration::hours(2), Duration::minutes(1));
    let reset = hhmm(w.now + Duration::hours(2));
    let stdin = fixture("2.1.330", "statusline-later.json");
    assert_eq!(
        w.line(&stdin),
        format!("Offload C:12.4k Σ:1.3M | S/F C:1/1 | RL C:58%@{reset}")
    );
    // The first call of a session (null usage fields) reads the same.
    assert_eq!(
        w.line(&fixture("2.1.330", "statusline-first.json")),
        format!("Offload C:12.4k Σ:1.3M | S/F C:1/1 | RL C:58%@{reset}")
    );
    // Another session in 2.1.197's shape has no attempts of its own.
    assert_eq!(
        w.line(&fixture("2.1.197", "statusline-later.json")),
        format!("Offload C:0 Σ:1.3M | S/F C:0/0 | RL C:58%@{reset}")
    );
    // totals.json gone (or not the log's, while a rebuild runs): the total is unknown, not 0.
    std::fs::remove_file(w.ledger().paths().totals()).unwrap();
    let line = w.line(&stdin);
    assert!(line.starts_with("Offload C:12.4k Σ:-- |"), "{line}");
}

/// An attempt the user interrupted is neither an S nor an F; its tokens count.
#[test]
fn an_interrupted_attempt_is_not_a_failure() {
    let w = World::new();
    w.attempt(Some(SID_330), Outcome::Success, 1_000, 0);
    w.attempt(Some(SID_330), Outcome::Interrupted, 500, 0);
    w.attempt(Some(SID_330), Outcome::Interrupted, 0, 0);
    assert_eq!(
        w.line(&fixture("2.1.330", "statusline-later.json")),
        "Offload C:1.5k Σ:1.5k | S/F C:1/0 | RL C:--"
    );
}

#[test]
fn bad_stdin_still_prints_what_can_be_known() {
    let w = World::new();
    w.attempt(None, Outcome::Success, 500, 0);
    for bad in [&b""[..], b"{", b"\xff\xfe", b"[]", b"{\"session_id\": 7}"] {
        assert_eq!(w.line(bad), "Offload C:-- Σ:500 | S/F C:--/-- | RL C:--");
    }
    // A corrupt summary over a log with events: the total is unknown until it heals, not 0.
    std::fs::write(w.state().join("totals.json"), "{torn").unwrap();
    assert_eq!(w.line(b"{}"), "Offload C:-- Σ:-- | S/F C:--/-- | RL C:--");
    // A state folder that does not exist at all.
    let w2 = World::new();
    assert_eq!(w2.line(b"{}"), "Offload C:-- Σ:0 | S/F C:--/-- | RL C:--");
}

#[test]
fn reset_times_far_away_passed_and_colours() {
    let w = World::new();
    w.recorded_limits(42.5, Duration::hours(30), Duration::minutes(1));
    let far = (w.now + Duration::hours(30))
        .with_timezone(&Local)
        .format("%a %H:%M")
        .to_string();
    assert!(
        w.line(b"{}").ends_with(&format!("RL C:58%@{far}")),
        "{}",
        w.line(b"{}")
    );

    let w = World::new();
    w.recorded_limits(99.0, -Duration::minutes(5), Duration::hours(6));
    assert!(
        w.line(b"{}").ends_with("RL C:100%"),
        "a window whose reset passed is full again"
    );

    let mut w = World::new();
    w.no_color = false;
    w.recorded_limits(90.0, Duration::hours(1), Duration::minutes(1));
    w.attempt(Some(SID_330), Outcome::Limited, 1, 1);
    let line = w.line(&fixture("2.1.330", "statusline-later.json"));
    assert!(line.contains("S/F C:0/\x1b[31m1\x1b[0m"), "{line:?}");
    assert!(line.contains("RL C:\x1b[31m10%\x1b[0m@"), "{line:?}");
    let mut w = World::new();
    w.no_color = false;
    w.recorded_limits(70.0, Duration::hours(1), Duration::minutes(1));
    assert!(
        w.line(b"{}").contains("RL C:\x1b[33m30%\x1b[0m@"),
        "{:?}",
        w.line(b"{}")
    );
}

#[test]
fn codex_used_outside_offload_counts_via_the_newest_rollout() {
    let w = World::new();
    w.recorded_limits(10.0, Duration::hours(2), Duration::hours(1));
    let reset = (w.now + Duration::hours(3)).timestamp();
    let ts = (w.now - Duration::minutes(1)).to_rfc3339();
    // Two limit families, `info: null`, and a torn last line: the last whole codex line counts.
    let codex = |used: f64| {
        format!(
            r#"{{"timestamp":"{ts}","type":"event_msg","payload":{{"type":"token_count","info":null,"rate_limits":{{"limit_id":"codex","primary":{{"used_percent":{used},"window_minutes":300,"resets_at":{reset}}},"secondary":{{"used_percent":5.0,"window_minutes":10080,"resets_at":{reset}}}}}}}}}"#
        )
    };
    let other = codex(99.0).replace("\"limit_id\":\"codex\"", "\"limit_id\":\"codex_other\"");
    let torn = &codex(1.0)[..120];
    w.rollout(
        "rollout-2026-11-24T07-00-00-t.jsonl",
        &format!("{}\n{}\n{}", codex(75.0), other, torn),
    );
    let reset_hhmm = hhmm(DateTime::from_timestamp(reset, 0).unwrap());
    assert!(
        w.line(b"{}").ends_with(&format!("RL C:25%@{reset_hhmm}")),
        "{}",
        w.line(b"{}")
    );
    // A newer snapshot recorded by offload run takes over again.
    w.recorded_limits(20.0, Duration::hours(2), -Duration::minutes(1));
    assert!(w.line(b"{}").contains("RL C:80%@"), "{}", w.line(b"{}"));
}

#[test]
fn format_string_and_optional_segments() {
    let w = World::new();
    std::fs::create_dir_all(w.state()).unwrap();
    std::fs::write(
        w.state().join("config.json"),
        r#"{"statusline":{"format":"codex {tokens}/{total} {nope} {","weekly":true,"claude":true,"share":true}}"#,
    )
    .unwrap();
    w.attempt(Some(SID_330), Outcome::Success, 300, 0);
    w.recorded_limits(42.5, Duration::hours(2), Duration::minutes(1));
    let mut stdin: serde_json::Value =
        serde_json::from_slice(&fixture("2.1.330", "statusline-later.json")).unwrap();
    let claude_reset = (w.now + Duration::hours(1)).timestamp();
    stdin["rate_limits"] =
        serde_json::json!({"five_hour": {"used_percentage": 23.5, "resets_at": claude_reset}});
    let line = w.line(stdin.to_string().as_bytes());
    let week = (w.now + Duration::days(3))
        .with_timezone(&Local)
        .format("%a %H:%M")
        .to_string();
    let claude = hhmm(DateTime::from_timestamp(claude_reset, 0).unwrap());
    // Claude's tokens in the fixture: 100 in + 10 out; Codex: 300 → 73 %.
    assert_eq!(
        line,
        format!("codex 300/300 {{nope}} {{ | W C:87%@{week} | RL Claude:77%@{claude} | share 73%")
    );
}

#[test]
fn a_guard_switched_off_or_a_forged_record_shows_a_red_flag() {
    let w = World::new();
    let home = w.dir.path().join("home");
    std::fs::create_dir_all(home.join(".claude")).unwrap();
    std::fs::create_dir_all(w.state()).unwrap();
    let hook = w.dir.path().join("offload-hook");
    std::fs::write(&hook, "#!/bin/sh\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let wired = serde_json::json!({"hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": hook.display().to_string()}]}]}});
    let settings = home.join(".claude/settings.json");
    std::fs::write(&settings, wired.to_string()).unwrap();
    let stdin = br#"{"session_id": "s1"}"#;
    let clean = w.line(stdin);
    assert!(!clean.contains('⚠'), "{clean}");
    // Before `offload setup` wired it, an unwired guard is not a finding.
    let mut off = wired.clone();
    off["disableAllHooks"] = serde_json::Value::Bool(true);
    std::fs::write(&settings, off.to_string()).unwrap();
    assert!(!w.line(stdin).contains('⚠'));
    std::fs::write(w.state().join("setup.json"), "{}").unwrap();
    let line = w.line(stdin);
    assert!(
        line.ends_with(" | ⚠ offload: hooks disabled (offload doctor)"),
        "{line}"
    );
    // Rewired: the flag goes within one render (the cache follows the file).
    std::fs::write(&settings, wired.to_string()).unwrap();
    assert_eq!(w.line(stdin), clean);
    // A record offload never writes: an approval from elsewhere.
    w.ledger()
        .append(&[Event::now(
            Some("s1"),
            Body::ApprovalGranted {
                source: "forged".into(),
                terminal: None,
                unverified: None,
            },
        )])
        .unwrap();
    assert!(w.line(stdin).contains("⚠ offload: forged record"));
}

#[test]
fn a_review_in_progress_shows_while_its_lock_is_held() {
    use shared::review::state::{Acquired, Store};
    let w = World::new();
    let stdin = fixture("2.1.330", "statusline-later.json");
    let base = "Offload C:0 Σ:0 | S/F C:0/0 | RL C:--";
    assert_eq!(w.line(&stdin), base);
    let store = Store::new(&w.state());
    let held = store
        .acquire(SID_330, "k", w.now + Duration::minutes(5))
        .unwrap();
    assert!(matches!(held, Acquired::Held(_)));
    assert_eq!(w.line(&stdin), format!("{base} | review…"));
    // Another session's review is not this one's.
    let other = store
        .acquire("another-session", "k", w.now + Duration::minutes(5))
        .unwrap();
    drop(held);
    assert_eq!(w.line(&stdin), base);
    drop(other);
    // A lock file left past its deadline (or by a process that is gone) is not a review.
    let stale = store
        .acquire(SID_330, "k2", w.now - Duration::seconds(1))
        .unwrap();
    assert_eq!(w.line(&stdin), base);
    drop(stale);
}

/// While an attempt of this session runs (a background job), the line says Codex is working
/// and for how long; another session's, or one whose process is gone, says nothing.
#[test]
fn codex_working_shows_while_an_attempt_of_the_session_runs() {
    let w = World::new();
    let stdin = fixture("2.1.330", "statusline-later.json");
    let base = "Offload C:0 Σ:0 | S/F C:0/0 | RL C:--";
    assert_eq!(w.line(&stdin), base);
    let mut mine = shared::running::Running::of_this_process(
        "a1",
        Some(SID_330),
        "gpt-5.4",
        "workspace-write",
        Some("code"),
        "/w",
        "do it",
    );
    mine.started = w.now - Duration::seconds(130);
    let marker = mine.mark(&w.state()).unwrap();
    assert_eq!(w.line(&stdin), format!("{base} | codex working 2m10s"));
    drop(marker);
    assert_eq!(w.line(&stdin), base);
    let mut theirs = mine.clone();
    theirs.session = Some("another-session".into());
    let _theirs = theirs.mark(&w.state()).unwrap();
    let mut dead = mine.clone();
    dead.attempt = "a2".into();
    dead.pid_start += 1;
    let _dead = dead.mark(&w.state()).unwrap();
    assert_eq!(w.line(&stdin), base);
}
