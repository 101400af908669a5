//! The guard as a function: given this call, this config and this session, this answer.
//! (The binary is tested as a process in `hooks/tests/`; real sessions in `tests/real_claude.rs`.)

use std::path::PathBuf;

use chrono::{Duration, Utc};
use serde_json::{Value, json};

use shared::claude::HookInput;
use shared::config::{GuardConfig, Mode};
use shared::ledger::{Approval, Body, LastAttempt, SessionSummary};
use shared::outcome::Outcome;
use shared::paths::Paths;
use shared::policy::guard::{Ctx, Verdict, pre_tool_use, runs_offload_approve};
use shared::policy::hook::{Env, answer};

struct Given {
    _dir: tempfile::TempDir,
    root: PathBuf,
    project: PathBuf,
    config: GuardConfig,
    mode: Mode,
    summary: Option<SessionSummary>,
}

impl Given {
    fn new() -> Given {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let project = root.join("proj");
        std::fs::create_dir_all(project.join("src")).unwrap();
        std::fs::create_dir_all(root.join("home/.local/share/offload")).unwrap();
        Given {
            _dir: dir,
            root,
            project,
            config: GuardConfig::default(),
            mode: Mode::Enforce,
            summary: None,
        }
    }

    fn summary(&mut self) -> &mut SessionSummary {
        self.summary.get_or_insert_with(|| SessionSummary {
            turn: 3,
            ..SessionSummary::new("s1")
        })
    }

    fn attempt(mut self, outcome: Outcome, turn_offset: i64, age_minutes: i64) -> Given {
        let s = self.summary();
        s.last_attempt = Some(LastAttempt {
            attempt: "a1".into(),
            ts: Utc::now() - Duration::minutes(age_minutes),
            turn: (s.turn as i64 + turn_offset) as u64,
            outcome,
            model: "gpt-5.3-codex".into(),
            sandbox: "workspace-write".into(),
            work_type: Some("code".into()),
            error: (!outcome.is_success()).then(|| "codex exited 1: boom".to_string()),
            cwd: None,
        });
        self
    }

    fn approved(mut self, turn_offset: i64) -> Given {
        let s = self.summary();
        s.approval = Some(Approval {
            ts: Utc::now(),
            turn: (s.turn as i64 + turn_offset) as u64,
            source: "prompt".into(),
            terminal: None,
            unverified: None,
        });
        self
    }

    fn home(&self) -> PathBuf {
        self.root.join("home")
    }

    fn state(&self) -> PathBuf {
        self.home().join(".local/share/offload")
    }

    fn p(&self, rel: &str) -> String {
        self.project.join(rel).display().to_string()
    }

    fn call(&self, tool: &str, input: Value) -> Verdict {
        let hook: HookInput = serde_json::from_value(json!({
            "session_id": "s1",
            "cwd": self.project,
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": input,
        }))
        .unwrap();
        let protected = [self.state(), self.home().join(".config/offload")];
        let runner = shared::config::RunnerConfig::default();
        let ctx = Ctx {
            config: &self.config,
            mode: self.mode,
            project: &self.project,
            cwd: &self.project,
            home: Some(&self.home()),
            protected: &protected,
            runner: &runner,
            now: Utc::now(),
            tmpdir: None,
            deadline: None,
            running: None,
            offload: "offload",
        };
        pre_tool_use(&hook, &ctx, || self.summary.clone())
    }

    fn edit(&self, rel: &str) -> Verdict {
        self.call(
            "Edit",
            json!({"file_path": self.p(rel), "old_string": "a", "new_string": "b"}),
        )
    }

    fn bash(&self, command: &str) -> Verdict {
        self.call("Bash", json!({"command": command, "description": "x"}))
    }
}

#[track_caller]
fn denied(v: &Verdict, code: &str) -> String {
    match v {
        Verdict::Deny(d) => {
            assert_eq!(d.code, code, "{}", d.reason);
            d.reason.clone()
        }
        other => panic!("expected a {code} deny, got {other:?}"),
    }
}

#[test]
fn an_edit_of_code_is_denied_until_a_codex_attempt_and_told_what_to_run() {
    let g = Given::new();
    let reason = denied(&g.edit("src/main.rs"), "route-first");
    assert!(reason.contains("editing src/main.rs"), "{reason}");
    assert!(
        reason.contains(&format!(
            "offload run --work-type code '<goal and acceptance criteria; files; constraints; tests to run>' workspace-write {}",
            g.project.display()
        )),
        "{reason}"
    );
    assert!(
        reason.contains("approve fallback") && reason.contains("offload approve"),
        "{reason}"
    );
    for tool in ["Write", "MultiEdit"] {
        denied(
            &g.call(tool, json!({"file_path": g.p("src/x.py"), "content": "x"})),
            "route-first",
        );
    }
    denied(
        &g.call(
            "NotebookEdit",
            json!({"notebook_path": g.p("nb.ipynb"), "new_source": "x"}),
        ),
        "route-first",
    );
    // A relative path is relative to the call's cwd.
    denied(
        &g.call("Write", json!({"file_path": "src/rel.ts", "content": ""})),
        "route-first",
    );
}

#[test]
fn a_successful_attempt_in_the_turn_unlocks_native_work() {
    let g = Given::new().attempt(Outcome::Success, 0, 1);
    assert_eq!(g.edit("src/main.rs"), Verdict::Silent);
    assert_eq!(
        g.call("Agent", json!({"subagent_type": "Explore", "prompt": "x"})),
        Verdict::Silent
    );
}

#[test]
fn a_success_opens_edits_of_the_project_it_worked_on_only() {
    let with_cwd = |cwd: &dyn Fn(&Given) -> PathBuf| {
        let mut g = Given::new().attempt(Outcome::Success, 0, 1);
        let c = cwd(&g).display().to_string();
        g.summary().last_attempt.as_mut().unwrap().cwd = Some(c);
        g
    };
    let elsewhere = with_cwd(&|g| g.root.join("elsewhere"));
    let v = elsewhere.edit("src/main.rs");
    denied(&v, "route-first");
    assert!(format!("{v:?}").contains("not in this project"), "{v:?}");
    for inside in [
        with_cwd(&|g| g.project.clone()),
        with_cwd(&|g| g.project.join("src")),
        with_cwd(&|g| g.root.clone()),
    ] {
        assert_eq!(inside.edit("src/main.rs"), Verdict::Silent);
    }
}

#[test]
fn an_attempt_in_an_earlier_turn_does_not_count_by_default() {
    let g = Given::new().attempt(Outcome::Success, -1, 1);
    denied(&g.edit("src/main.rs"), "route-first");
    let mut g = Given::new().attempt(Outcome::Success, -1, 1);
    g.config.attempt_scope = "session".into();
    assert_eq!(g.edit("src/main.rs"), Verdict::Silent);
    let mut g = Given::new().attempt(Outcome::Success, -2, 10);
    g.config.attempt_scope = "30m".into();
    assert_eq!(g.edit("src/main.rs"), Verdict::Silent);
    let mut g = Given::new().attempt(Outcome::Success, 0, 45);
    g.config.attempt_scope = "30m".into();
    denied(&g.edit("src/main.rs"), "route-first");
    let mut g = Given::new().attempt(Outcome::Success, -1, 1);
    g.config.attempt_scope = "whenever".into();
    denied(&g.edit("src/main.rs"), "route-first");
    // A success stamped a day ahead (a writer whose clock is wrong) opens nothing under a
    // duration: skew cannot extend it.
    let mut g = Given::new().attempt(Outcome::Success, -1, -24 * 60);
    g.config.attempt_scope = "30m".into();
    denied(&g.edit("src/main.rs"), "route-first");
    // Within the turn it still counts (the turn, not the clock, decides).
    let g = Given::new().attempt(Outcome::Success, 0, -24 * 60);
    assert_eq!(g.edit("src/main.rs"), Verdict::Silent);
}

#[test]
fn an_attempt_scope_out_of_range_reads_as_turn_and_never_panics() {
    use shared::policy::guard::{AttemptScope, unlocked};
    for scope in [
        "1e15",
        "1e20",
        "-1",
        "NaN",
        "inf",
        "",
        "0",
        "18446744073709551615",
        "99999999999999999999999999d",
        "31d",
    ] {
        assert_eq!(AttemptScope::parse(scope), AttemptScope::Turn, "{scope}");
        // A success of an earlier turn counts for nothing; one of this turn opens.
        let mut g = Given::new().attempt(Outcome::Success, -1, 1);
        g.config.attempt_scope = scope.into();
        denied(&g.edit("src/main.rs"), "route-first");
        let mut g = Given::new().attempt(Outcome::Success, 0, 1);
        g.config.attempt_scope = scope.into();
        assert_eq!(g.edit("src/main.rs"), Verdict::Silent, "{scope}");
    }
    assert_eq!(
        AttemptScope::parse("30d"),
        AttemptScope::Within(std::time::Duration::from_secs(30 * 86_400))
    );
    // Checked arithmetic: a success stamped at the end of time, with the longest scope.
    let mut s = folded(&[("ok", Outcome::Success, "workspace-write", true)]);
    for a in [&mut s.last_write_success, &mut s.last_success] {
        a.as_mut().unwrap().ts = chrono::DateTime::<Utc>::MAX_UTC;
    }
    s.turn += 1;
    let config = GuardConfig {
        attempt_scope: "30d".into(),
        ..GuardConfig::default()
    };
    assert!(!unlocked(Some(&s), &config, Utc::now()));
    assert!(!unlocked(
        Some(&s),
        &config,
        chrono::DateTime::<Utc>::MIN_UTC
    ));
}

#[test]
fn a_failed_attempt_fails_closed_until_the_user_approves() {
    for outcome in [
        Outcome::Failed,
        Outcome::Timeout,
        Outcome::Limited,
        Outcome::Error,
    ] {
        let g = Given::new().attempt(outcome, 0, 1);
        let reason = denied(&g.edit("src/main.rs"), "fail-closed");
        assert!(
            reason.contains(&format!("ended `{outcome}` (codex exited 1: boom)")),
            "{reason}"
        );
        assert!(
            reason.contains("Do not fall back to native tools on your own"),
            "{reason}"
        );
        assert!(reason.contains("\"approve fallback\""), "{reason}");
        assert_eq!(g.approved(0).edit("src/main.rs"), Verdict::Silent);
    }
    let g = Given::new().attempt(Outcome::Missing, 0, 1);
    let reason = denied(&g.edit("src/main.rs"), "fail-closed");
    assert!(reason.contains("Codex CLI is missing"), "{reason}");
    // An approval from an earlier turn does not carry over.
    let g = Given::new().attempt(Outcome::Failed, 0, 1).approved(-1);
    denied(&g.edit("src/main.rs"), "fail-closed");
    // The user's explicit approval stands even before any attempt.
    assert_eq!(
        Given::new().approved(0).edit("src/main.rs"),
        Verdict::Silent
    );
}

#[test]
fn exploration_subagents_are_routed_read_only() {
    let g = Given::new();
    let reason = denied(
        &g.call(
            "Agent",
            json!({"subagent_type": "Explore", "prompt": "find"}),
        ),
        "route-first",
    );
    assert!(reason.contains("the Explore subagent"), "{reason}");
    assert!(
        reason.contains("--work-type explore") && reason.contains("read-only"),
        "{reason}"
    );
    denied(
        &g.call("Task", json!({"subagent_type": "general-purpose"})),
        "route-first",
    );
    denied(
        &g.call("Agent", json!({"prompt": "no type means general-purpose"})),
        "route-first",
    );
    denied(
        &g.call("Agent", json!({"subagent_type": "explore"})),
        "route-first",
    );
    assert_eq!(
        g.call("Agent", json!({"subagent_type": "statusline-setup"})),
        Verdict::Silent
    );
    // A workflow's script starts general-purpose subagents without an Agent call.
    let reason = denied(
        &g.call(
            "Workflow",
            json!({"script": "await agent('explore the repo and summarise it')"}),
        ),
        "route-first",
    );
    assert!(reason.contains("general-purpose subagent"), "{reason}");
}

#[test]
fn non_code_and_outside_paths_pass() {
    let g = Given::new();
    for rel in [
        "README.md",
        "docs/plans/2026-11-24-x.md",
        "CLAUDE.md",
        ".claude/agents/a.py",
        "data.json",
        "notes.txt",
        "Cargo.toml",
    ] {
        assert_eq!(g.edit(rel), Verdict::Silent, "{rel}");
    }
    assert_eq!(
        g.call(
            "Write",
            json!({"file_path": "/tmp/scratch.rs", "content": ""})
        ),
        Verdict::Silent
    );
    assert_eq!(
        g.call("Edit", json!({"file_path": "../other/x.rs"})),
        Verdict::Silent
    );
    assert_eq!(
        g.call("Read", json!({"file_path": g.p("src/main.rs")})),
        Verdict::Silent
    );
    assert_eq!(g.call("Grep", json!({"pattern": "x"})), Verdict::Silent);
    assert_eq!(
        g.call("Edit", json!({})),
        Verdict::Silent,
        "no path: nothing to judge"
    );
    assert_eq!(g.call("Edit", json!({"file_path": 7})), Verdict::Silent);
    // A tool offload does not know is judged by the paths it names (see below).
    denied(
        &g.call("SomeFutureTool", json!({"file_path": g.p("src/a.rs")})),
        "route-first",
    );
}

#[test]
fn custom_globs_and_subagents() {
    let mut g = Given::new();
    g.config.code_globs = vec!["**/*.toml".into()];
    g.config.exempt_globs = vec!["vendor/**".into()];
    g.config.subagent_types = vec!["Plan".into()];
    denied(&g.edit("Cargo.toml"), "route-first");
    assert_eq!(g.edit("vendor/x.toml"), Verdict::Silent);
    assert_eq!(g.edit("src/main.rs"), Verdict::Silent);
    denied(
        &g.call("Agent", json!({"subagent_type": "Plan"})),
        "route-first",
    );
    assert_eq!(
        g.call("Agent", json!({"subagent_type": "Explore"})),
        Verdict::Silent
    );
    // A broken glob falls back to the defaults instead of opening the gate.
    g.config.code_globs = vec!["src/[".into()];
    denied(&g.edit("src/main.rs"), "route-first");
}

#[test]
fn offloads_own_files_and_approvals_are_off_limits() {
    let g = Given::new().attempt(Outcome::Success, 0, 1).approved(0);
    let events = g.state().join("events.jsonl").display().to_string();
    denied(
        &g.call("Write", json!({"file_path": events, "content": ""})),
        "tamper",
    );
    denied(
        &g.call(
            "Write",
            json!({"file_path": g.p(".claude/offload.json"), "content": "{}"}),
        ),
        "tamper",
    );
    for cmd in [
        "offload approve".to_string(),
        "offload approve --session s1".to_string(),
        "cd /tmp && ~/.local/bin/offload approve".to_string(),
        "echo '{}' > ~/.local/share/offload/sessions/s1.json".to_string(),
        format!("rm {events}"),
        "cat $HOME/.local/share/offload/totals.json".to_string(),
        "echo '{\"guard\":{\"mode\":\"off\"}}' > .claude/offload.json".to_string(),
    ] {
        let reason = denied(&g.bash(&cmd), "tamper");
        assert!(reason.contains("only the user may do"), "{reason}");
    }
    assert_eq!(g.bash("offload stats"), Verdict::Silent);
    assert_eq!(
        g.bash("offload run \"fix it\" workspace-write ."),
        Verdict::Silent
    );
}

#[test]
fn settings_edits_that_remove_offloads_hooks_are_denied() {
    let g = Given::new();
    let settings = g.p(".claude/settings.json");
    std::fs::create_dir_all(g.project.join(".claude")).unwrap();
    std::fs::write(&settings, r#"{"hooks":{"PreToolUse":[{"hooks":[{"type":"command","command":"/bin/offload-hook"}]}]}}"#).unwrap();
    denied(
        &g.call("Write", json!({"file_path": settings, "content": "{}"})),
        "tamper",
    );
    denied(
        &g.call("Edit", json!({"file_path": settings, "old_string": "\"command\":\"/bin/offload-hook\"", "new_string": ""})),
        "tamper",
    );
    assert_eq!(
        g.call("Edit", json!({"file_path": settings, "old_string": "{\"hooks\"", "new_string": "{\"permissions\":{},\"hooks\""})),
        Verdict::Silent
    );
    let keeps = r#"{"env":{},"hooks":{"PreToolUse":[{"hooks":[{"type":"command","command":"/bin/offload-hook"}]}]}}"#;
    assert_eq!(
        g.call("Write", json!({"file_path": settings, "content": keeps})),
        Verdict::Silent
    );
    let mut g2 = Given::new();
    g2.config.protect_settings = false;
    std::fs::create_dir_all(g2.project.join(".claude")).unwrap();
    std::fs::write(g2.project.join(".claude/settings.json"), "offload-hook").unwrap();
    assert_eq!(
        g2.call(
            "Write",
            json!({"file_path": g2.p(".claude/settings.json"), "content": "{}"})
        ),
        Verdict::Silent
    );
}

#[test]
fn modes() {
    let mut g = Given::new();
    g.mode = Mode::Off;
    assert_eq!(g.edit("src/main.rs"), Verdict::Silent);
    assert_eq!(g.bash("offload approve"), Verdict::Silent);
    g.mode = Mode::Warn;
    match g.edit("src/main.rs") {
        Verdict::Warn(d) => {
            assert_eq!(d.code, "route-first");
            assert!(
                d.reason
                    .starts_with("offload (warn mode, not blocking): offload: editing src/main.rs"),
                "{}",
                d.reason
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn approve_detection() {
    for yes in [
        "offload approve",
        "x; offload  approve",
        "/usr/bin/offload approve --session a",
        "(offload approve)",
    ] {
        assert!(runs_offload_approve(yes), "{yes}");
    }
    for no in [
        "offload run \"approve the design\"",
        "echo approve",
        "offloadx approve",
        "offload stats",
    ] {
        assert!(!runs_offload_approve(no), "{no}");
    }
}

// ---- whole hook calls, stdin bytes to answer ----

struct Hook {
    _dir: tempfile::TempDir,
    env: Env,
    project: PathBuf,
}

impl Hook {
    fn new(mode: Option<&str>) -> Hook {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("proj/src")).unwrap();
        Hook {
            env: Env {
                paths: Paths::in_folder(root.join("state")),
                mode: mode.map(str::to_owned),
                project_dir: Some(root.join("proj")),
                env_file: Some(root.join("env-file")),
                home: Some(root.join("home")),
                codex_home: None,
                codex_found: Some("/usr/bin/codex".into()),
                now: Utc::now(),
                tmpdir: None,
                prompt_sender: || Ok(None),
                prompt_nested: || None,
            },
            project: root.join("proj"),
            _dir: dir,
        }
    }

    fn run(&self, payload: Value) -> shared::policy::hook::Answer {
        self.raw(payload.to_string().as_bytes())
    }

    fn raw(&self, stdin: &[u8]) -> shared::policy::hook::Answer {
        let a = answer(stdin, &self.env, |_| None);
        assert!(
            !a.stdout.contains("\"allow\""),
            "offload never answers allow"
        );
        a
    }
}

#[test]
fn unreadable_input_blocks_with_a_way_out_in_enforce_mode_only() {
    let h = Hook::new(None);
    let huge = format!(
        "{{\"hook_event_name\":\"PreToolUse\",\"tool_input\":{{\"x\":\"{}\"",
        "a".repeat(10 << 20)
    );
    for bad in [
        &b""[..],
        b"not json",
        b"\xff\xfe\x00",
        b"[]",
        huge.as_bytes(),
    ] {
        let a = h.raw(bad);
        assert_eq!(a.exit, 2);
        assert!(a.stderr.contains("OFFLOAD_MODE=off"), "{}", a.stderr);
        assert!(a.record.is_empty());
    }
    for mode in ["warn", "off"] {
        let a = Hook::new(Some(mode)).raw(b"not json");
        assert_eq!((a.exit, a.stdout.as_str(), a.stderr.as_str()), (0, "", ""));
    }
    // A config that says off is honoured too.
    let h = Hook::new(None);
    std::fs::create_dir_all(&h.env.paths.state_dir).unwrap();
    std::fs::write(&h.env.paths.config_file, r#"{"guard":{"mode":"off"}}"#).unwrap();
    assert_eq!(h.raw(b"{").exit, 0);
}

#[test]
fn odd_but_valid_payloads_never_block_unrelated_work() {
    let h = Hook::new(None);
    let big = "a".repeat(10 << 20);
    for payload in [
        json!({"hook_event_name": "PreToolUse", "tool_name": "Read", "tool_input": {"file_path": big}}),
        json!({"hook_event_name": "SomeNewEvent", "session_id": "s"}),
        json!({"hook_event_name": "PostToolUse", "tool_name": "Bash", "tool_response": {"stdout": "x"}}),
    ] {
        let a = h.run(payload);
        assert_eq!((a.exit, a.stdout.as_str()), (0, ""));
    }
    // JSON that is not a hook payload cannot be judged: blocked like unreadable input.
    for payload in [
        json!({}),
        json!({"hook_event_name": null, "tool_name": null}),
        json!({"hook_event_name": "PreToolUse", "tool_input": {"command": "ls"}}),
        json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": "rm -rf src"}),
        // A tool call under an event name Claude Code does not send.
        json!({"hook_event_name": "pretooluse", "tool_name": "Edit", "tool_input": {"file_path": "src/lib.rs"}}),
        json!({"hook_event_name": "PreToolUse2", "tool_name": "Write", "tool_input": {"file_path": "src/lib.rs"}}),
        // A built-in tool without the field it acts on, as a string.
        json!({"hook_event_name": "PreToolUse", "tool_name": "Edit", "tool_input": {"file_path": 5, "old_string": "a", "new_string": "b"}}),
        json!({"hook_event_name": "PreToolUse", "tool_name": "Edit", "tool_input": {"file_path": ["src/lib.rs"]}}),
        json!({"hook_event_name": "PreToolUse", "tool_name": "Write", "tool_input": {"content": "x"}}),
        json!({"hook_event_name": "PreToolUse", "tool_name": "NotebookEdit", "tool_input": {"notebook_path": null}}),
        json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": ["sed", "-i", "s/a/b/", "src/lib.rs"]}}),
        json!({"hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"description": "x"}}),
    ] {
        let a = h.run(payload.clone());
        assert_eq!(a.exit, 2, "{payload}");
        assert!(
            a.stderr.contains("not a Claude Code hook payload"),
            "{}",
            a.stderr
        );
    }
    // A key given twice is not read as its last value.
    let dup = br#"{"hook_event_name":"PreToolUse","tool_name":"Edit","tool_input":{"file_path":"src/lib.rs","old_string":"a","new_string":"b"},"tool_name":"Read"}"#;
    let a = h.raw(dup);
    assert_eq!(a.exit, 2, "{}", a.stderr);
    assert!(a.stderr.contains("duplicate field"), "{}", a.stderr);
    // Missing fields on a code edit still get judged: no session means no attempt → deny.
    let a = h.run(json!({"hook_event_name": "PreToolUse", "tool_name": "Write", "tool_input": {"file_path": h.project.join("src/a.rs")}}));
    assert!(a.stdout.contains("\"deny\""), "{}", a.stdout);
    assert!(
        matches!(&a.record[0].body, Body::GuardDenied { reason, warn: false, .. } if reason == "route-first")
    );
    assert_eq!(a.record[0].session, None);
}

#[test]
fn prompts_start_turns_and_carry_approvals() {
    let h = Hook::new(None);
    let a = h.run(
        json!({"hook_event_name": "UserPromptSubmit", "session_id": "s1", "prompt": "fix the bug"}),
    );
    assert!(
        matches!(a.record.as_slice(), [e] if matches!(e.body, Body::TurnStarted { .. }) && e.session.as_deref() == Some("s1"))
    );
    assert_eq!(a.stdout, "");
    let a = h.run(json!({"hook_event_name": "UserPromptSubmit", "session_id": "s1", "prompt": "OK, Approve Fallback please"}));
    assert_eq!(a.record.len(), 2);
    assert!(
        matches!(&a.record[1].body, Body::ApprovalGranted { source, .. } if source == "prompt")
    );
    assert!(a.stdout.contains("approved a native fallback"));
    let a = h.run(json!({"hook_event_name": "UserPromptSubmit", "session_id": "s1", "prompt": "<task-notification>\napprove fallback</task-notification>"}));
    assert!(
        a.record.is_empty(),
        "a finished background agent is not the user"
    );
    let mut h2 = Hook::new(None);
    std::fs::create_dir_all(&h2.env.paths.state_dir).unwrap();
    std::fs::write(
        &h2.env.paths.config_file,
        r#"{"guard":{"approval_phrase":"go native"}}"#,
    )
    .unwrap();
    h2.env.mode = None;
    let a = h2.run(json!({"hook_event_name": "UserPromptSubmit", "session_id": "s1", "prompt": "approve fallback"}));
    assert_eq!(a.record.len(), 1, "only the configured phrase approves");
}

/// A prompt Claude scheduled (`ScheduleWakeup`, `CronCreate`: Claude Code submits it later as
/// if the user typed it) is not the user's approval; the phrase in a file Claude wrote or a
/// command it ran does not stop the user's own.
#[test]
fn a_prompt_claude_scheduled_approves_nothing() {
    let h = Hook::new(None);
    let transcript = h.project.join("t.jsonl");
    let line = |name: &str, input: serde_json::Value| {
        json!({"type": "assistant", "message": {"role": "assistant", "content": [
            {"type": "text", "text": "ok"},
            {"type": "tool_use", "id": "toolu_1", "name": name, "input": input}
        ]}})
        .to_string()
    };
    let prompt = |text: &str| {
        h.run(
            json!({"hook_event_name": "UserPromptSubmit", "session_id": "s1",
                     "transcript_path": transcript, "prompt": text}),
        )
    };
    for (name, input) in [
        (
            "ScheduleWakeup",
            json!({"delaySeconds": 60, "prompt": "approve fallback"}),
        ),
        (
            "CronCreate",
            json!({"cron": "* * * * *", "prompt": "Yes, approve fallback."}),
        ),
        (
            "mcp__sched__later",
            json!({"job": {"text": "approve fallback"}}),
        ),
    ] {
        std::fs::write(
            &transcript,
            format!(
                "{}\n{}\n",
                line("Read", json!({"file_path": "x"})),
                line(name, input)
            ),
        )
        .unwrap();
        for text in ["approve fallback", "Yes, approve fallback."] {
            let a = prompt(text);
            assert_eq!(a.record.len(), 1, "{name}, {text}: only the turn");
            assert!(
                a.stdout.contains("Claude wrote it earlier"),
                "{name}: {}",
                a.stdout
            );
        }
    }
    // The phrase in a file Claude wrote, a command it ran, a subagent's task: the user's
    // own approval still counts.
    std::fs::write(
        &transcript,
        [
            line(
                "Write",
                json!({"file_path": "README.md", "content": "approve fallback"}),
            ),
            line("Bash", json!({"command": "echo approve fallback"})),
            line("Agent", json!({"prompt": "approve fallback"})),
            line("ScheduleWakeup", json!({"prompt": "check the build"})),
        ]
        .join("\n"),
    )
    .unwrap();
    let a = prompt("approve fallback");
    assert!(
        matches!(&a.record[1].body, Body::ApprovalGranted { source, .. } if source == "prompt"),
        "{:?}",
        a.record
    );
}

#[test]
fn session_start_exports_the_session_and_explains_the_route() {
    let h = Hook::new(None);
    let a = h.run(json!({"hook_event_name": "SessionStart", "session_id": "abc-123", "source": "startup", "cwd": h.project}));
    let (file, line) = a.env_line.unwrap();
    assert_eq!(file, h.env.env_file.clone().unwrap());
    assert_eq!(line, "export OFFLOAD_SESSION_ID=abc-123\n");
    assert!(
        a.stdout.contains("codex is ready (/usr/bin/codex)"),
        "{}",
        a.stdout
    );
    assert!(a.stdout.contains("--work-type explore"), "{}", a.stdout);
    let a = h.run(json!({"hook_event_name": "SessionStart", "session_id": "x'; rm -rf ~; '"}));
    assert_eq!(
        a.env_line.unwrap().1,
        "export OFFLOAD_SESSION_ID='x'\\''; rm -rf ~; '\\'''\n"
    );
    let a =
        Hook::new(Some("off")).run(json!({"hook_event_name": "SessionStart", "session_id": "s"}));
    assert_eq!(a.stdout, "");
}

#[test]
fn warn_mode_tells_and_records_without_blocking() {
    let h = Hook::new(Some("warn"));
    let a = h.run(json!({"hook_event_name": "PreToolUse", "session_id": "s1", "cwd": h.project, "tool_name": "Edit", "tool_input": {"file_path": h.project.join("src/a.rs")}}));
    let v: Value = serde_json::from_str(&a.stdout).unwrap();
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    assert!(v["hookSpecificOutput"].get("permissionDecision").is_none());
    assert!(
        v["hookSpecificOutput"]["additionalContext"]
            .as_str()
            .unwrap()
            .contains("warn mode")
    );
    assert!(matches!(
        &a.record[0].body,
        Body::GuardDenied { warn: true, .. }
    ));
}

#[test]
fn offload_mode_env_beats_config() {
    let h = Hook::new(Some("off"));
    std::fs::create_dir_all(&h.env.paths.state_dir).unwrap();
    std::fs::write(&h.env.paths.config_file, r#"{"guard":{"mode":"enforce"}}"#).unwrap();
    let a = h.run(json!({"hook_event_name": "PreToolUse", "session_id": "s1", "cwd": h.project, "tool_name": "Edit", "tool_input": {"file_path": h.project.join("src/a.rs")}}));
    assert_eq!(a.stdout, "");
}

/// The Bash corpus (`fixtures/bash-corpus.tsv`) through the whole guard with the default config:
/// every `deny` line is denied before an attempt, every `pass` line is not.
#[test]
fn bash_corpus_through_the_guard() {
    let config = GuardConfig::default();
    let runner = shared::config::RunnerConfig::default();
    let protected = [PathBuf::from("/home/u/.local/share/offload")];
    let ctx = Ctx {
        config: &config,
        mode: Mode::Enforce,
        project: std::path::Path::new("/proj"),
        cwd: std::path::Path::new("/proj"),
        home: Some(std::path::Path::new("/home/u")),
        protected: &protected,
        runner: &runner,
        now: Utc::now(),
        tmpdir: None,
        deadline: None,
        running: None,
        offload: "offload",
    };
    let (mut deny, mut pass, mut escapes, mut false_blocks) = (0, 0, vec![], vec![]);
    let mut watch = 0;
    for (n, line) in include_str!("fixtures/bash-corpus.tsv").lines().enumerate() {
        let Some((verdict, command)) = line.split_once('\t').filter(|_| !line.starts_with('#'))
        else {
            continue;
        };
        let command = command.replace("\\n", "\n");
        let hook: HookInput = serde_json::from_value(json!({
            "session_id": "s", "cwd": "/proj", "hook_event_name": "PreToolUse",
            "tool_name": "Bash", "tool_input": {"command": command}
        }))
        .unwrap();
        let verdict_now = pre_tool_use(&hook, &ctx, || None);
        // A `deny` line must be stopped: denied before it runs, or watched by its effect (the
        // command runs, and what it did to code is undone). A `pass` line must never be denied.
        let denied = matches!(verdict_now, Verdict::Deny(_));
        let watched = matches!(verdict_now, Verdict::Watch(_));
        if watched {
            watch += 1;
        }
        match verdict {
            "deny" => {
                deny += 1;
                if !denied && !watched {
                    escapes.push(format!("line {}: {command:?}", n + 1));
                }
            }
            _ => {
                pass += 1;
                if denied {
                    false_blocks.push(format!("line {}: {command:?}", n + 1));
                }
            }
        }
    }
    eprintln!(
        "guard on the bash corpus: {deny} deny / {pass} pass; {watch} watched by effect; escapes {}, false blocks {}",
        escapes.len(),
        false_blocks.len()
    );
    assert!(deny >= 30 && pass >= 30);
    assert!(escapes.is_empty(), "escapes:\n{}", escapes.join("\n"));
    assert!(
        false_blocks.is_empty(),
        "false blocks:\n{}",
        false_blocks.join("\n")
    );
}

const VALID_PLAN: &str = include_str!("fixtures/plans/valid/basic.md");

#[test]
fn plans_are_checked_on_write_and_edit_and_valid_ones_pass() {
    let g = Given::new();
    let plan = g.p("docs/plans/2026-11-24-verbose.md");
    std::fs::create_dir_all(g.project.join("docs/plans")).unwrap();
    // A valid plan is never blocked, before any attempt.
    assert_eq!(
        g.call("Write", json!({"file_path": plan, "content": VALID_PLAN})),
        Verdict::Silent
    );
    // An invalid one is denied with its problems and lines.
    let broken = VALID_PLAN.replace("- Estimate: 4 min", "- Estimate: 9 min");
    let reason = denied(
        &g.call("Write", json!({"file_path": plan, "content": broken})),
        "plan-invalid",
    );
    assert!(
        reason.contains(
            "docs/plans/2026-11-24-verbose.md would not pass `offload plan check` (1 problem)"
        ),
        "{reason}"
    );
    assert!(
        reason.contains("line 24: task T2: estimate 9 min is outside 2–5 minutes"),
        "{reason}"
    );
    // An Edit is judged by the plan it leaves behind.
    std::fs::write(
        g.project.join("docs/plans/2026-11-24-verbose.md"),
        VALID_PLAN,
    )
    .unwrap();
    let edit = |old: &str, new: &str| {
        g.call(
            "Edit",
            json!({"file_path": plan, "old_string": old, "new_string": new}),
        )
    };
    assert_eq!(
        edit(
            "- Status: todo\n- Objective: When verbose",
            "- Status: done\n- Objective: When verbose"
        ),
        Verdict::Silent
    );
    let reason = denied(
        &edit(
            "- Backend: codex gpt-5.3-codex workspace-write\n- Done when: a runner",
            "- Backend: codex gpt-4o workspace-write\n- Done when: a runner",
        ),
        "plan-invalid",
    );
    assert!(
        reason.contains("model `gpt-4o` is not in the routing policy"),
        "{reason}"
    );
    let reason = denied(
        &edit("- Depends on: T1\n\n### T3", "- Depends on: T9\n\n### T3"),
        "plan-invalid",
    );
    assert!(
        reason.contains("depends on T9, which is not a task"),
        "{reason}"
    );
    // An Edit whose old text is not in the file is left to Claude Code (it fails there).
    assert_eq!(edit("no such text", "x"), Verdict::Silent);
    // Other Markdown in the project is not a plan.
    assert_eq!(
        g.call(
            "Write",
            json!({"file_path": g.p("docs/notes.md"), "content": "# x"})
        ),
        Verdict::Silent
    );
    assert_eq!(
        g.call(
            "Write",
            json!({"file_path": g.p("docs/plans/sub/x.md"), "content": "# x"})
        ),
        Verdict::Silent
    );
    // Warn mode reports an invalid plan without blocking.
    let mut w = Given::new();
    w.mode = Mode::Warn;
    let p = w.p("docs/plans/x.md");
    assert!(
        matches!(w.call("Write", json!({"file_path": p, "content": "# nope"})), Verdict::Warn(d) if d.code == "plan-invalid")
    );
}

#[test]
fn tools_offload_does_not_know_are_judged_by_the_paths_they_name() {
    let g = Given::new();
    let lib = g.p("src/lib.rs");
    // An MCP server's write tools, and a new tool whose name says nothing: like Write.
    for (tool, input) in [
        (
            "mcp__filesystem__write_file",
            json!({"path": lib, "content": "x"}),
        ),
        (
            "mcp__filesystem__edit_file",
            json!({"path": "src/lib.rs", "edits": []}),
        ),
        (
            "mcp__filesystem__move_file",
            json!({"source": "/tmp/x.rs", "destination": lib}),
        ),
        (
            "mcp__repo__apply",
            json!({"changes": [{"file": {"path": "src/main.py"}}]}),
        ),
        (
            "BrandNewTool",
            json!({"file_path": format!("file://{lib}")}),
        ),
    ] {
        let reason = denied(&g.call(tool, input), "route-first");
        assert!(reason.contains(tool), "{reason}");
    }
    // Reading tools, Claude Code's own, and paths that are not code: silent.
    for (tool, input) in [
        ("mcp__filesystem__read_file", json!({"path": lib})),
        (
            "mcp__filesystem__read_multiple_files",
            json!({"paths": [lib]}),
        ),
        ("mcp__filesystem__search_files", json!({"path": "src"})),
        (
            "mcp__filesystem__write_file",
            json!({"path": g.p("README.md")}),
        ),
        ("mcp__filesystem__write_file", json!({"path": "/tmp/x.rs"})),
        ("mcp__notes__add", json!({"text": "edit src/lib.rs later"})),
        (
            "TodoWrite",
            json!({"todos": [{"content": "edit src/lib.rs"}]}),
        ),
        ("Read", json!({"file_path": lib})),
        ("WebFetch", json!({"url": "https://example.com/a.rs"})),
        ("mcp__x__y", json!("not an object")),
    ] {
        assert_eq!(
            g.call(tool, input.clone()),
            Verdict::Silent,
            "{tool} {input}"
        );
    }
    // offload's own files: tamper, whatever the tool.
    let events = g.state().join("events.jsonl").display().to_string();
    denied(
        &g.call("mcp__filesystem__write_file", json!({"path": events})),
        "tamper",
    );
    // After a successful attempt, like any edit: allowed.
    let g = Given::new().attempt(Outcome::Success, 0, 1);
    assert_eq!(
        g.call("mcp__filesystem__write_file", json!({"path": lib})),
        Verdict::Silent
    );
}

/// A session summary folded from a turn's events, as the ledger folds them.
fn folded(attempts: &[(&str, Outcome, &str, bool)]) -> SessionSummary {
    use shared::ledger::{AttemptFinished, Event, Tokens};
    let mut s = SessionSummary::new("s1");
    let mut events = vec![Event::now(
        Some("s1"),
        Body::TurnStarted {
            prompt_id: None,
            project: None,
        },
    )];
    for (id, outcome, sandbox, configured) in attempts {
        events.push(Event::now(
            Some("s1"),
            Body::AttemptFinished(Box::new(AttemptFinished {
                unconfigured_codex: (!configured).then(|| "/tmp/fake-codex".to_string()),
                attempt: id.to_string(),
                outcome: *outcome,
                exit_code: outcome.exit_code(true),
                codex_exit: Some(0),
                model: "gpt-5.3-codex".into(),
                sandbox: sandbox.to_string(),
                work_type: None,
                // Any folder holding the project.
                cwd: "/".into(),
                duration_ms: 10,
                tokens: Tokens::default(),
                thread_id: None,
                error: None,
                resumed_from: None,
                job: None,
                trace: None,
            })),
        ));
    }
    for (i, e) in events.iter().enumerate() {
        s.apply(e, i as u64 + 1);
    }
    s
}

#[test]
fn the_verdict_is_a_function_of_all_the_turns_attempts() {
    let mut g = Given::new();
    // Either order of a success and a failure (`--dual`, parallel tasks): open.
    for order in [
        [("ok", Outcome::Success), ("bad", Outcome::Failed)],
        [("bad", Outcome::Failed), ("ok", Outcome::Success)],
    ] {
        g.summary = Some(folded(&[
            (order[0].0, order[0].1, "workspace-write", true),
            (order[1].0, order[1].1, "workspace-write", true),
        ]));
        assert_eq!(g.edit("src/lib.rs"), Verdict::Silent, "{order:?}");
    }
    // Only failures: closed.
    g.summary = Some(folded(&[("bad", Outcome::Failed, "workspace-write", true)]));
    denied(&g.edit("src/lib.rs"), "fail-closed");
    // A read-only success unlocks exploration, not edits, and says so.
    g.summary = Some(folded(&[("look", Outcome::Success, "read-only", true)]));
    let reason = denied(&g.edit("src/lib.rs"), "route-first");
    assert!(
        reason.contains("read-only attempt unlocks exploration"),
        "{reason}"
    );
    assert_eq!(
        g.call("Agent", json!({"subagent_type": "Explore", "prompt": "x"})),
        Verdict::Silent
    );
    // A success of a codex that is not the configured one counts for nothing.
    g.summary = Some(folded(&[(
        "fake",
        Outcome::Success,
        "workspace-write",
        false,
    )]));
    let reason = denied(&g.edit("src/lib.rs"), "route-first");
    assert!(
        reason.contains("did not run the configured codex"),
        "{reason}"
    );
    // ... and does not hide a real failure.
    g.summary = Some(folded(&[
        ("bad", Outcome::Failed, "workspace-write", true),
        ("fake", Outcome::Success, "workspace-write", false),
    ]));
    denied(&g.edit("src/lib.rs"), "fail-closed");
}

/// An attempt the user interrupted is passed over: it never unlocks, and it does not lock like
/// a failure. What came before it in scope decides.
#[test]
fn an_interrupted_attempt_neither_unlocks_nor_locks() {
    let mut g = Given::new();
    let run = |id, outcome| (id, outcome, "workspace-write", true);
    // Alone: route first, as if it had not run.
    g.summary = Some(folded(&[run("stop", Outcome::Interrupted)]));
    denied(&g.edit("src/lib.rs"), "route-first");
    denied(
        &g.call("Agent", json!({"subagent_type": "Explore", "prompt": "x"})),
        "route-first",
    );
    // After a failure: still fail closed, naming the failure.
    g.summary = Some(folded(&[
        run("bad", Outcome::Failed),
        run("stop", Outcome::Interrupted),
    ]));
    let reason = denied(&g.edit("src/lib.rs"), "fail-closed");
    assert!(reason.contains("ended `failed`"), "{reason}");
    // After a success: still open.
    g.summary = Some(folded(&[
        run("ok", Outcome::Success),
        run("stop", Outcome::Interrupted),
    ]));
    assert_eq!(g.edit("src/lib.rs"), Verdict::Silent);
    // A summary that knows only its newest attempt, and that one interrupted: route first.
    let g = Given::new().attempt(Outcome::Interrupted, 0, 1);
    denied(&g.edit("src/main.rs"), "route-first");
}

#[test]
fn settings_are_judged_by_the_json_they_leave() {
    let g = Given::new();
    std::fs::create_dir_all(g.project.join(".claude")).unwrap();
    let wired = json!({
        "statusLine": {"type": "command", "command": "/bin/offload-statusline"},
        "hooks": {
            "PreToolUse": [{"matcher": "Edit|Write|Bash", "hooks": [{"type": "command", "command": "/bin/offload-hook"}]}],
            "UserPromptSubmit": [{"hooks": [{"type": "command", "command": "/bin/offload-hook"}]}]
        }
    });
    let settings = g.p(".claude/settings.json");
    let local = g.p(".claude/settings.local.json");
    std::fs::write(&settings, serde_json::to_string_pretty(&wired).unwrap()).unwrap();
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = wired.clone();
        f(&mut v);
        v.to_string()
    };
    // Each way of switching the guard off, as a Write of the project settings.
    for (why, content) in [
        (
            "disableAllHooks",
            with(&|v| v["disableAllHooks"] = json!(true)),
        ),
        (
            "OFFLOAD_MODE",
            with(&|v| v["env"] = json!({"OFFLOAD_MODE": "off"})),
        ),
        (
            "OFFLOAD_HOME",
            with(&|v| v["env"] = json!({"OFFLOAD_HOME": "/tmp/forged"})),
        ),
        (
            "CODEX_BIN",
            with(&|v| v["env"] = json!({"CODEX_BIN": "/tmp/fake"})),
        ),
        (
            "LD_PRELOAD",
            with(&|v| v["env"] = json!({"LD_PRELOAD": "/tmp/exit.so"})),
        ),
        (
            "HOME",
            with(&|v| v["env"] = json!({"HOME": "/tmp/forged-home"})),
        ),
        (
            "XDG_CONFIG_HOME",
            with(&|v| v["env"] = json!({"XDG_CONFIG_HOME": "/tmp/forged"})),
        ),
        (
            "NODE_OPTIONS",
            with(&|v| v["env"] = json!({"NODE_OPTIONS": "--require /tmp/x.js"})),
        ),
        (
            "matcher",
            with(&|v| v["hooks"]["PreToolUse"][0]["matcher"] = json!("NoSuchTool")),
        ),
        (
            "renamed",
            with(&|v| {
                let pre = v["hooks"]["PreToolUse"].take();
                v["hooks"]["PreToolUseX"] = pre;
                v["hooks"].as_object_mut().unwrap().remove("PreToolUse");
            }),
        ),
        (
            "dropped, the word kept",
            with(&|v| {
                v["hooks"] = json!({});
            }),
        ),
        (
            "other command",
            with(&|v| v["hooks"]["PreToolUse"][0]["hooks"][0]["command"] = json!("/bin/true")),
        ),
        ("not JSON", "{ offload-hook".to_string()),
    ] {
        let reason = denied(
            &g.call("Write", json!({"file_path": settings, "content": content})),
            "tamper",
        );
        assert!(reason.contains("settings.json"), "{why}: {reason}");
    }
    // The local settings: no hooks of offload's there, but disableAllHooks or env still count.
    for content in [
        json!({"disableAllHooks": true}).to_string(),
        json!({"env": {"OFFLOAD_MODE": "off"}}).to_string(),
    ] {
        denied(
            &g.call("Write", json!({"file_path": local, "content": content})),
            "tamper",
        );
    }
    // An Edit is judged on the file it leaves.
    let text = std::fs::read_to_string(&settings).unwrap();
    assert!(text.contains("\"matcher\": \"Edit|Write|Bash\""));
    denied(
        &g.call(
            "Edit",
            json!({"file_path": settings, "old_string": "\"matcher\": \"Edit|Write|Bash\"", "new_string": "\"matcher\": \"Read\""}),
        ),
        "tamper",
    );
    // What leaves the guard as it was passes: permissions, other env, a wider matcher.
    for content in [
        with(&|v| v["permissions"] = json!({"allow": ["Bash(ls:*)"]})),
        with(&|v| v["env"] = json!({"RUST_LOG": "debug"})),
        with(&|v| v["hooks"]["PreToolUse"][0]["matcher"] = json!("*")),
        with(&|v| v["disableAllHooks"] = json!(false)),
    ] {
        assert_eq!(
            g.call(
                "Write",
                json!({"file_path": settings, "content": content.clone()})
            ),
            Verdict::Silent,
            "{content}"
        );
    }
    assert_eq!(
        g.call(
            "Write",
            json!({"file_path": local, "content": "{\"permissions\":{}}"})
        ),
        Verdict::Silent
    );
}

#[test]
fn what_a_red_team_got_past_the_settings_and_unknown_tool_checks() {
    let g = Given::new();
    std::fs::create_dir_all(g.project.join(".claude")).unwrap();
    let hook = r#"{"type":"command","command":"/bin/offload-hook","timeout":10}"#;
    let wired = format!(r#"{{"hooks":{{"PreToolUse":[{{"matcher":"Bash","hooks":[{hook}]}}]}}}}"#);
    std::fs::write(g.project.join(".claude/settings.json"), &wired).unwrap();
    // Through a symlink to `.claude`.
    std::os::unix::fs::symlink(g.project.join(".claude"), g.project.join("cfg")).unwrap();
    denied(
        &g.call(
            "Write",
            json!({"file_path": g.p("cfg/settings.json"), "content": "{\"disableAllHooks\":true}"}),
        ),
        "tamper",
    );
    // offload's entry kept by name but changed: output thrown away, another binary, async,
    // a tiny timeout, another type.
    for (old, new) in [
        ("\"/bin/offload-hook\"", "\"/bin/offload-hook > /dev/null\""),
        ("\"/bin/offload-hook\"", "\"/tmp/offload-hook\""),
        ("\"timeout\":10", "\"timeout\":10,\"async\":true"),
        ("\"timeout\":10", "\"timeout\":0.001"),
        ("\"type\":\"command\"", "\"type\":\"http\""),
    ] {
        denied(
            &g.call(
                "Edit",
                json!({"file_path": g.p(".claude/settings.json"), "old_string": old, "new_string": new}),
            ),
            "tamper",
        );
    }
    // Settings through a tool offload does not know.
    denied(
        &g.call(
            "mcp__fs__write_file",
            json!({"path": g.p(".claude/settings.local.json"), "content": "{\"disableAllHooks\":true}"}),
        ),
        "tamper",
    );
    // A code path under any name, in any nesting, as a key, percent-encoded, from `~`.
    let lib = g.p("src/a.rs");
    let up = "../".repeat(g.home().components().count() - 1);
    let home_rel = format!("~/{up}{}", lib.trim_start_matches('/'));
    for input in [
        json!({"name": lib}),
        json!({"args": [lib, "x"]}),
        json!({"files": [{"p": lib}]}),
        json!({"changes": {"src/a.rs": "x"}}),
        json!({"uri": format!("file://{}", lib.replace(".rs", "%2Ers"))}),
        json!({"target_spec": home_rel}),
        json!({"path": home_rel.replacen('~', "${HOME}", 1)}),
        json!({"path": home_rel.replacen('~', "$HOME", 1)}),
        json!({"path": "${CLAUDE_PROJECT_DIR}/src/a.rs"}),
    ] {
        let v = g.call("mcp__fs__write_file", input.clone());
        assert!(
            matches!(&v, Verdict::Deny(d) if d.code == "route-first"),
            "{input}: {v:?}"
        );
    }
    // Text with spaces is text, not a path.
    assert_eq!(
        g.call("mcp__notes__add", json!({"text": "see src/a.rs for it"})),
        Verdict::Silent
    );
}

/// The template `offload plan new` writes is filled in one placeholder at a time: each Edit
/// that leaves only the problems the plan already had passes; one that adds a problem is
/// denied with that problem alone.
#[test]
fn a_plan_in_progress_is_filled_in_edit_by_edit() {
    let g = Given::new();
    let rel = "docs/plans/2026-11-29-feat.md";
    std::fs::create_dir_all(g.project.join("docs/plans")).unwrap();
    let template = shared::plan::template(
        "feat",
        &shared::plan::RoutingPolicy::from(&shared::config::RunnerConfig::default()),
    );
    std::fs::write(g.project.join(rel), &template).unwrap();
    let policy = shared::plan::RoutingPolicy::from(&shared::config::RunnerConfig::default());
    let before = shared::plan::check_text(&template, &policy).len();
    assert!(
        before > 3,
        "the template has placeholders to fill: {before}"
    );
    let plan = g.p(rel);
    let edit = |old: &str, new: &str| {
        g.call(
            "Edit",
            json!({"file_path": plan, "old_string": old, "new_string": new}),
        )
    };
    assert_eq!(
        edit("### T1: {{short title}}", "### T1: Print the events"),
        Verdict::Silent,
        "a step towards a valid plan"
    );
    let reason = denied(
        &edit(
            "- Estimate: 3 min\n\n### T2",
            "- Estimate: 40 min\n\n### T2",
        ),
        "plan-invalid",
    );
    assert!(
        reason.contains("(1 problem)"),
        "only the added one: {reason}"
    );
    assert!(reason.contains("40 min"), "{reason}");
    // A Write of the whole plan still has to pass.
    let reason = denied(
        &g.call("Write", json!({"file_path": plan, "content": template})),
        "plan-invalid",
    );
    assert!(reason.contains(&format!("({before} problems)")), "{reason}");
}

/// A plan path that is really another file is judged as that file: a symlink in docs/plans to
/// code is an edit of code, and so is an exempt name that is a hard link of a code file.
#[test]
fn a_plan_or_markdown_name_for_a_code_file_is_an_edit_of_code() {
    let g = Given::new();
    std::fs::create_dir_all(g.project.join("docs/plans")).unwrap();
    std::fs::create_dir_all(g.project.join("src")).unwrap();
    std::fs::write(g.project.join("src/lib.rs"), "pub fn a() {}\n").unwrap();
    std::os::unix::fs::symlink(
        "../../src/lib.rs",
        g.project.join("docs/plans/2026-11-29-link.md"),
    )
    .unwrap();
    std::fs::hard_link(g.project.join("src/lib.rs"), g.project.join("NOTES.md")).unwrap();
    for name in ["docs/plans/2026-11-29-link.md", "NOTES.md"] {
        let v = g.call(
            "Edit",
            json!({"file_path": g.p(name), "old_string": "pub fn a() {}", "new_string": "pub fn a() { 1 }"}),
        );
        denied(&v, "route-first");
        let v = g.call(
            "Write",
            json!({"file_path": g.p(name), "content": VALID_PLAN}),
        );
        denied(&v, "route-first");
    }
    // A Markdown file of its own is still free.
    std::fs::write(g.project.join("OTHER.md"), "x\n").unwrap();
    assert_eq!(
        g.call(
            "Edit",
            json!({"file_path": g.p("OTHER.md"), "old_string": "x", "new_string": "y"})
        ),
        Verdict::Silent
    );
}

/// The file a table row names: `user`, `project` or `local` Claude Code settings, the
/// project's `mcp` (`.mcp.json`) or a `sub`folder's, or the user's `claude.json`.
fn row_file(g: &Given, file: &str) -> std::path::PathBuf {
    match file {
        "user" => g.home().join(".claude/settings.json"),
        "project" => g.project.join(".claude/settings.json"),
        "local" => g.project.join(".claude/settings.local.json"),
        "mcp" => g.project.join(".mcp.json"),
        "sub" => g.project.join("sub/.mcp.json"),
        "parent" => g.project.parent().unwrap().join(".mcp.json"),
        "claude.json" => g.home().join(".claude.json"),
        other => panic!("no file {other:?}"),
    }
}

/// A Write of `after` over `path` holding `before` (`null`: no file), judged: silent, or a
/// tamper denial whose reason holds `expect`. The file is removed afterwards.
fn write_row(
    g: &Given,
    why: &str,
    path: &std::path::Path,
    before: &Value,
    after: &Value,
    expect: Option<&str>,
) {
    let _ = std::fs::remove_file(path);
    if !before.is_null() {
        std::fs::write(path, serde_json::to_string_pretty(before).unwrap()).unwrap();
    }
    let v = g.call(
        "Write",
        json!({"file_path": path, "content": serde_json::to_string_pretty(after).unwrap()}),
    );
    match expect {
        None => assert_eq!(v, Verdict::Silent, "{why}"),
        Some(words) => {
            let reason = match &v {
                Verdict::Deny(d) if d.code == "tamper" => d.reason.clone(),
                other => panic!("{why}: expected a tamper deny, got {other:?}"),
            };
            assert!(reason.contains(words), "{why}: {reason}");
        }
    }
    let _ = std::fs::remove_file(path);
}

/// Round 7 of a red team, in the real Claude Code: settings changes that keep offload's hooks
/// but make Claude Code ignore the file (B11), run hooks another way or not at all (B1, B1b,
/// B2), or run code of Claude's outside the guard (B10); and everyday changes that must pass.
/// One row per vector: the file, its JSON before (`null`: no file) and after, and `Some(words
/// of the reason)` for a deny or `None` for a pass.
#[test]
fn settings_vectors_of_round_seven() {
    let g = Given::new();
    std::fs::create_dir_all(g.project.join(".claude")).unwrap();
    std::fs::create_dir_all(g.home().join(".claude")).unwrap();
    let ours = json!({"type": "command", "command": "/bin/offload-hook", "timeout": 10});
    let wired = json!({
        "model": "sonnet",
        "permissions": {"allow": ["Bash(ls:*)"]},
        "env": {"CLAUDE_CODE_MAX_OUTPUT_TOKENS": "8000"},
        "statusLine": {"type": "command", "command": "/bin/offload-statusline"},
        "hooks": {
            "PreToolUse": [{"matcher": "Edit|Write|Bash", "hooks": [ours]}],
            "UserPromptSubmit": [{"hooks": [ours]}],
            "PostToolUse": [{"matcher": "Edit", "hooks": [{"type": "command", "command": "cargo fmt"}]}]
        }
    });
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = wired.clone();
        f(&mut v);
        v
    };
    let env = |k: &str| with(&|v| v["env"][k] = json!("/tmp/p.sh"));
    let rewriter = json!({"matcher": "Write", "hooks": [{"type": "command", "command": "python3 /tmp/rw.py"}]});
    const SCHEMA: Option<&str> = Some("settings schema");
    const ENV: Option<&str> = Some("the user can set it themselves");
    const RUNS: Option<&str> = Some("runs code outside the guard");
    let rows: Vec<(&str, &str, Value, Value, Option<&str>)> = vec![
        // B11: a value of the wrong type, offload's hooks kept byte for byte.
        (
            "B11 permissions 5",
            "user",
            wired.clone(),
            with(&|v| v["permissions"] = json!(5)),
            SCHEMA,
        ),
        (
            "B11 model 5",
            "user",
            wired.clone(),
            with(&|v| v["model"] = json!(5)),
            SCHEMA,
        ),
        (
            "B11 statusLine 5",
            "user",
            wired.clone(),
            with(&|v| v["statusLine"] = json!(5)),
            SCHEMA,
        ),
        (
            "B11 cleanupPeriodDays x",
            "user",
            wired.clone(),
            with(&|v| v["cleanupPeriodDays"] = json!("x")),
            SCHEMA,
        ),
        (
            "B11 enabledPlugins 5",
            "user",
            wired.clone(),
            with(&|v| v["enabledPlugins"] = json!(5)),
            SCHEMA,
        ),
        (
            "B11 permissions.allow a string",
            "project",
            wired.clone(),
            with(&|v| v["permissions"]["allow"] = json!("Bash")),
            SCHEMA,
        ),
        (
            "B11 in a local file without hooks",
            "local",
            Value::Null,
            json!({"includeCoAuthoredBy": "no"}),
            SCHEMA,
        ),
        (
            "B11 a hook group that is not a list",
            "project",
            wired.clone(),
            with(&|v| v["hooks"]["Stop"] = json!({})),
            SCHEMA,
        ),
        (
            "already invalid, judged as now",
            "user",
            with(&|v| v["model"] = json!(5)),
            with(&|v| {
                v["model"] = json!(5);
                v["permissions"]["allow"] = json!(["Bash(ls:*)", "Bash(cat:*)"])
            }),
            None,
        ),
        (
            "already invalid, fixed",
            "user",
            with(&|v| v["model"] = json!(5)),
            wired.clone(),
            None,
        ),
        // B1, B1b, B2: env that changes how Claude Code runs hooks, or whether.
        (
            "B1 CLAUDE_CODE_SHELL_PREFIX",
            "user",
            wired.clone(),
            env("CLAUDE_CODE_SHELL_PREFIX"),
            ENV,
        ),
        (
            "B1b CLAUDE_CODE_SHELL_PREFIX, new local file",
            "local",
            Value::Null,
            json!({"env": {"CLAUDE_CODE_SHELL_PREFIX": "/tmp/p.sh"}}),
            ENV,
        ),
        (
            "B2 CLAUDE_CODE_SIMPLE",
            "user",
            wired.clone(),
            with(&|v| v["env"]["CLAUDE_CODE_SIMPLE"] = json!("1")),
            ENV,
        ),
        (
            "CLAUDE_CODE_SHELL",
            "project",
            wired.clone(),
            env("CLAUDE_CODE_SHELL"),
            ENV,
        ),
        (
            "CLAUDE_CODE_MAX_OUTPUT_TOKENS changed",
            "user",
            wired.clone(),
            with(&|v| v["env"]["CLAUDE_CODE_MAX_OUTPUT_TOKENS"] = json!("1")),
            ENV,
        ),
        (
            "CLAUDE_CONFIG_DIR",
            "user",
            wired.clone(),
            env("CLAUDE_CONFIG_DIR"),
            ENV,
        ),
        ("SHELL", "user", wired.clone(), env("SHELL"), ENV),
        (
            "BASH_FUNC_",
            "user",
            wired.clone(),
            env("BASH_FUNC_offload-hook%%"),
            ENV,
        ),
        (
            "GLIBC_TUNABLES",
            "user",
            wired.clone(),
            env("GLIBC_TUNABLES"),
            ENV,
        ),
        ("GCONV_PATH", "user", wired.clone(), env("GCONV_PATH"), ENV),
        ("LOCPATH", "user", wired.clone(), env("LOCPATH"), ENV),
        ("PERL5OPT", "user", wired.clone(), env("PERL5OPT"), ENV),
        (
            "PYTHONSTARTUP",
            "user",
            wired.clone(),
            env("PYTHONSTARTUP"),
            ENV,
        ),
        ("PYTHONPATH", "user", wired.clone(), env("PYTHONPATH"), ENV),
        ("IFS", "user", wired.clone(), env("IFS"), ENV),
        ("TMPDIR", "user", wired.clone(), env("TMPDIR"), ENV),
        (
            "GIT_CONFIG_GLOBAL",
            "user",
            wired.clone(),
            env("GIT_CONFIG_GLOBAL"),
            ENV,
        ),
        (
            "GIT_CONFIG_COUNT",
            "user",
            wired.clone(),
            env("GIT_CONFIG_COUNT"),
            ENV,
        ),
        ("GIT_DIR", "user", wired.clone(), env("GIT_DIR"), ENV),
        // B10: a hook of Claude's own, or another command Claude Code runs.
        (
            "B10 PreToolUse rewriter",
            "user",
            wired.clone(),
            with(&|v| {
                v["hooks"]["PreToolUse"]
                    .as_array_mut()
                    .unwrap()
                    .push(rewriter.clone())
            }),
            RUNS,
        ),
        (
            "B10 rewriter, new local file",
            "local",
            Value::Null,
            json!({"hooks": {"PreToolUse": [rewriter]}}),
            RUNS,
        ),
        (
            "PostToolUse hook added",
            "project",
            wired.clone(),
            with(&|v| {
                v["hooks"]["PostToolUse"].as_array_mut().unwrap().push(
                    json!({"matcher": "Bash", "hooks": [{"type": "command", "command": "x"}]}),
                )
            }),
            RUNS,
        ),
        (
            "Stop prompt hook",
            "user",
            wired.clone(),
            with(&|v| v["hooks"]["Stop"] = json!([{"hooks": [{"type": "prompt", "prompt": "p"}]}])),
            RUNS,
        ),
        (
            "another hook's command changed",
            "user",
            wired.clone(),
            with(&|v| v["hooks"]["PostToolUse"][0]["hooks"][0]["command"] = json!("sh /tmp/x")),
            RUNS,
        ),
        (
            "another hook's matcher widened",
            "user",
            wired.clone(),
            with(&|v| v["hooks"]["PostToolUse"][0]["matcher"] = json!("*")),
            RUNS,
        ),
        (
            "a second offload-hook that setup never wrote",
            "user",
            wired.clone(),
            with(
                &|v| v["hooks"]["PostToolUse"][0]["hooks"] = json!([{"type": "command", "command": "/tmp/x/offload-hook"}, {"type": "command", "command": "cargo fmt"}]),
            ),
            RUNS,
        ),
        (
            "statusLine replaced",
            "user",
            wired.clone(),
            with(&|v| v["statusLine"]["command"] = json!("/tmp/sl.sh")),
            Some("statusline"),
        ),
        (
            "statusLine removed",
            "user",
            wired.clone(),
            with(&|v| {
                v.as_object_mut().unwrap().remove("statusLine");
            }),
            Some("statusline"),
        ),
        (
            "statusLine wrap added",
            "user",
            wired.clone(),
            with(&|v| {
                v["statusLine"]["command"] = json!("/bin/offload-statusline --wrap 'sh /tmp/x'")
            }),
            RUNS,
        ),
        (
            "statusLine, new local file",
            "local",
            Value::Null,
            json!({"statusLine": {"type": "command", "command": "sh /tmp/x"}}),
            RUNS,
        ),
        (
            "apiKeyHelper",
            "user",
            wired.clone(),
            with(&|v| v["apiKeyHelper"] = json!("/tmp/k.sh")),
            RUNS,
        ),
        (
            "awsAuthRefresh",
            "user",
            wired.clone(),
            with(&|v| v["awsAuthRefresh"] = json!("/tmp/k.sh")),
            RUNS,
        ),
        (
            "awsCredentialExport",
            "user",
            wired.clone(),
            with(&|v| v["awsCredentialExport"] = json!("/tmp/k.sh")),
            RUNS,
        ),
        (
            "otelHeadersHelper",
            "project",
            wired.clone(),
            with(&|v| v["otelHeadersHelper"] = json!("/tmp/k.sh")),
            RUNS,
        ),
        (
            "plugin enabled",
            "user",
            wired.clone(),
            with(&|v| v["enabledPlugins"] = json!({"rw@evil": true})),
            RUNS,
        ),
        (
            "marketplace added",
            "user",
            wired.clone(),
            with(&|v| {
                v["extraKnownMarketplaces"] =
                    json!({"evil": {"source": {"source": "directory", "path": "/tmp/m"}}})
            }),
            RUNS,
        ),
        // Taking away what is not offload's passes.
        (
            "another hook removed",
            "user",
            wired.clone(),
            with(&|v| {
                v["hooks"].as_object_mut().unwrap().remove("PostToolUse");
            }),
            None,
        ),
        (
            "apiKeyHelper removed",
            "user",
            with(&|v| v["apiKeyHelper"] = json!("/bin/k")),
            wired.clone(),
            None,
        ),
        (
            "plugin disabled",
            "user",
            with(&|v| v["enabledPlugins"] = json!({"p@m": true})),
            with(&|v| v["enabledPlugins"] = json!({"p@m": false})),
            None,
        ),
        (
            "a user's statusline removed",
            "local",
            json!({"statusLine": {"type": "command", "command": "x"}}),
            json!({}),
            None,
        ),
        // Everyday changes pass.
        (
            "permission rule added",
            "project",
            wired.clone(),
            with(&|v| v["permissions"]["allow"] = json!(["Bash(ls:*)", "Bash(cargo test:*)"])),
            None,
        ),
        (
            "permission deny and mode",
            "local",
            Value::Null,
            json!({"permissions": {"deny": ["Read(./.env)"], "defaultMode": "acceptEdits"}}),
            None,
        ),
        (
            "model changed",
            "user",
            wired.clone(),
            with(&|v| v["model"] = json!("opus")),
            None,
        ),
        (
            "ANTHROPIC_MODEL",
            "user",
            wired.clone(),
            with(&|v| v["env"]["ANTHROPIC_MODEL"] = json!("claude-opus-4")),
            None,
        ),
        (
            "BASH_DEFAULT_TIMEOUT_MS",
            "project",
            wired.clone(),
            with(&|v| v["env"]["BASH_DEFAULT_TIMEOUT_MS"] = json!("300000")),
            None,
        ),
        (
            "a user's CLAUDE_CODE_ key kept, another added",
            "user",
            wired.clone(),
            with(&|v| v["env"]["RUST_LOG"] = json!("debug")),
            None,
        ),
        (
            "cleanupPeriodDays, includeCoAuthoredBy, outputStyle",
            "user",
            wired.clone(),
            with(&|v| {
                v["cleanupPeriodDays"] = json!(7);
                v["includeCoAuthoredBy"] = json!(false);
                v["outputStyle"] = json!("Explanatory");
            }),
            None,
        ),
        (
            "statusLine padding",
            "user",
            wired.clone(),
            with(&|v| v["statusLine"]["padding"] = json!(1)),
            None,
        ),
        (
            "unknown key",
            "user",
            wired.clone(),
            with(&|v| v["somethingNew"] = json!([1, {"a": null}])),
            None,
        ),
    ];
    for (why, file, before, after, expect) in rows {
        let path = row_file(&g, file);
        write_row(&g, why, &path, &before, &after, expect);
    }
    // The same vectors as an Edit are judged on the file it leaves.
    let path = g.home().join(".claude/settings.json");
    std::fs::write(&path, serde_json::to_string_pretty(&wired).unwrap()).unwrap();
    for (old, new, expect) in [
        ("\"model\": \"sonnet\"", "\"model\": 5", SCHEMA),
        ("\"model\": \"sonnet\"", "\"model\": \"opus\"", None),
        (
            "\"CLAUDE_CODE_MAX_OUTPUT_TOKENS\": \"8000\"",
            "\"CLAUDE_CODE_MAX_OUTPUT_TOKENS\": \"8000\", \"CLAUDE_CODE_SIMPLE\": \"1\"",
            ENV,
        ),
        (
            "\"command\": \"cargo fmt\"",
            "\"command\": \"python3 /tmp/rw.py\"",
            RUNS,
        ),
    ] {
        let v = g.call(
            "Edit",
            json!({"file_path": path, "old_string": old, "new_string": new}),
        );
        match expect {
            None => assert_eq!(v, Verdict::Silent, "{new}"),
            Some(words) => assert!(denied(&v, "tamper").contains(words), "{new}"),
        }
    }
}

/// B13: a skill's, subagent's or command's frontmatter can declare hooks that run while it is
/// active. A Write or Edit that adds `hooks` to it, or changes them, is denied like a settings
/// hook; everything else about these files stays free.
#[test]
fn hooks_declared_in_a_skill_or_agent_frontmatter() {
    let g = Given::new();
    let rw = "hooks:\n  PreToolUse:\n    - matcher: \"Write\"\n      hooks: [{type: command, command: \"python3 /tmp/rw.py\"}]\n";
    let plain = "---\nname: notes-helper\ndescription: Notes\n---\n\nBody\n";
    let hooked = format!("---\nname: notes-helper\ndescription: Notes\n{rw}---\n\nBody\n");
    let user_skill = g
        .home()
        .join(".claude/skills/notes/SKILL.md")
        .display()
        .to_string();
    let rows: Vec<(&str, String, Option<&str>, Value, bool)> = vec![
        // (why, file, content before, the tool input besides file_path, denied)
        (
            "B13 project skill, new",
            g.p(".claude/skills/notes-helper/SKILL.md"),
            None,
            json!({"content": hooked}),
            true,
        ),
        (
            "user skill, new",
            user_skill.clone(),
            None,
            json!({"content": hooked}),
            true,
        ),
        (
            "project agent",
            g.p(".claude/agents/rw.md"),
            Some(plain),
            json!({"content": hooked}),
            true,
        ),
        (
            "user agent",
            g.home()
                .join(".claude/agents/x/rw.md")
                .display()
                .to_string(),
            None,
            json!({"content": hooked}),
            true,
        ),
        (
            "command",
            g.p(".claude/commands/go.md"),
            None,
            json!({"content": hooked}),
            true,
        ),
        (
            "a subfolder's skill",
            g.p("sub/.claude/skills/a/SKILL.md"),
            None,
            json!({"content": hooked}),
            true,
        ),
        (
            "quoted key",
            g.p(".claude/skills/q/SKILL.md"),
            None,
            json!({"content": "---\n\"hooks\": {PreToolUse: []}\n---\n"}),
            true,
        ),
        (
            "flow mapping",
            g.p(".claude/skills/f/SKILL.md"),
            None,
            json!({"content": "---\n{name: a, hooks: {Stop: []}}\n---\n"}),
            true,
        ),
        (
            "Edit adding hooks",
            g.p(".claude/skills/e/SKILL.md"),
            Some(plain),
            json!({"old_string": "description: Notes\n", "new_string": format!("description: Notes\n{rw}")}),
            true,
        ),
        (
            "Edit changing hooks",
            g.p(".claude/skills/c/SKILL.md"),
            Some(&hooked),
            json!({"old_string": "/tmp/rw.py", "new_string": "/tmp/other.py"}),
            true,
        ),
        (
            "MultiEdit adding hooks",
            g.p(".claude/agents/m.md"),
            Some(plain),
            json!({"edits": [{"old_string": "Body", "new_string": "Text"}, {"old_string": "name: notes-helper\n", "new_string": "name: notes-helper\nhooks:\n  Stop: []\n"}]}),
            true,
        ),
        // What passes: no hooks, hooks kept as they were, hooks removed, `hooks` in the body.
        (
            "skill without hooks",
            g.p(".claude/skills/n/SKILL.md"),
            None,
            json!({"content": plain}),
            false,
        ),
        (
            "description changed, hooks kept",
            g.p(".claude/skills/k/SKILL.md"),
            Some(&hooked),
            json!({"old_string": "description: Notes", "new_string": "description: Better notes"}),
            false,
        ),
        (
            "body changed, hooks kept",
            g.p(".claude/skills/b/SKILL.md"),
            Some(&hooked),
            json!({"old_string": "Body", "new_string": "More body"}),
            false,
        ),
        (
            "hooks removed",
            g.p(".claude/skills/r/SKILL.md"),
            Some(&hooked),
            json!({"content": plain}),
            false,
        ),
        (
            "hooks: in the body",
            g.p(".claude/skills/t/SKILL.md"),
            None,
            json!({"content": format!("{plain}\nhooks:\n  Stop: []\n")}),
            false,
        ),
        (
            "another file of a skill",
            g.p(".claude/skills/o/reference.md"),
            None,
            json!({"content": hooked}),
            false,
        ),
        (
            "a Markdown file elsewhere",
            g.p("docs/agents/x.md"),
            None,
            json!({"content": hooked}),
            false,
        ),
    ];
    for (why, file, before, input, deny) in rows {
        let path = PathBuf::from(&file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&path);
        if let Some(b) = before {
            std::fs::write(&path, b).unwrap();
        }
        let mut input = input;
        input["file_path"] = json!(file);
        let tool = if input.get("content").is_some() {
            "Write"
        } else if input.get("edits").is_some() {
            "MultiEdit"
        } else {
            "Edit"
        };
        let v = g.call(tool, input);
        if deny {
            let reason = denied(&v, "tamper");
            assert!(
                reason.contains("runs code outside the guard"),
                "{why}: {reason}"
            );
        } else {
            assert_eq!(v, Verdict::Silent, "{why}");
        }
    }
}

/// Round 9 of a red team: MCP servers make Claude Code start a program outside the guard. A
/// server added to a project's `.mcp.json` (N2, in any folder of the project) or to the user's
/// `~/.claude.json` (N3: top level or per project), project servers let start unasked from the
/// settings (N2b), and the other settings keys that run a command. One row per vector: the
/// file, its JSON before (`null`: no file) and after, and `Some(words of the reason)` for a
/// deny or `None` for a pass.
#[test]
fn mcp_servers_and_helper_commands_of_round_nine() {
    let g = Given::new();
    for d in [".claude", "sub"] {
        std::fs::create_dir_all(g.project.join(d)).unwrap();
    }
    std::fs::create_dir_all(g.home().join(".claude")).unwrap();
    let server = json!({"command": "python3", "args": ["/tmp/n.py"]});
    let other = json!({"command": "node", "args": ["/tmp/s.js"]});
    let proj = g.project.display().to_string();
    const MCP: Option<&str> =
        Some("an MCP server runs a program outside the guard: the user can add it themselves");
    const RUNS: Option<&str> = Some("the user can add it themselves");
    let state = json!({"numStartups": 4, "projects": {proj.clone(): {"allowedTools": []}}});
    let with = |base: &Value, f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    let rows: Vec<(&str, &str, Value, Value, Option<&str>)> = vec![
        // N2b and its kin: the user's settings let the project's servers start unasked.
        (
            "enableAllProjectMcpServers",
            "user",
            json!({}),
            json!({"enableAllProjectMcpServers": true}),
            MCP,
        ),
        (
            "enableAllProjectMcpServers off",
            "user",
            json!({"enableAllProjectMcpServers": true}),
            json!({"enableAllProjectMcpServers": false}),
            None,
        ),
        (
            "enabledMcpjsonServers, a name added",
            "project",
            json!({"enabledMcpjsonServers": ["a"]}),
            json!({"enabledMcpjsonServers": ["a", "notes"]}),
            MCP,
        ),
        (
            "enabledMcpjsonServers, a name taken out",
            "local",
            json!({"enabledMcpjsonServers": ["a", "notes"]}),
            json!({"enabledMcpjsonServers": ["a"]}),
            None,
        ),
        (
            "disabledMcpjsonServers, a name taken out",
            "user",
            json!({"disabledMcpjsonServers": ["notes"]}),
            json!({"disabledMcpjsonServers": []}),
            MCP,
        ),
        (
            "disabledMcpjsonServers, a name added",
            "user",
            json!({}),
            json!({"disabledMcpjsonServers": ["notes"]}),
            None,
        ),
        // The settings keys that run a command, like apiKeyHelper.
        (
            "fileSuggestion",
            "user",
            json!({}),
            json!({"fileSuggestion": {"type": "command", "command": "/tmp/x.sh"}}),
            RUNS,
        ),
        (
            "subagentStatusLine",
            "project",
            json!({}),
            json!({"subagentStatusLine": {"type": "command", "command": "/tmp/x.sh"}}),
            RUNS,
        ),
        (
            "gcpAuthRefresh",
            "user",
            json!({}),
            json!({"gcpAuthRefresh": "/tmp/x.sh"}),
            RUNS,
        ),
        (
            "proxyAuthHelper changed",
            "local",
            json!({"proxyAuthHelper": "/bin/p"}),
            json!({"proxyAuthHelper": "/tmp/x.sh"}),
            RUNS,
        ),
        (
            "proxyAuthHelper removed",
            "user",
            json!({"proxyAuthHelper": "/bin/p"}),
            json!({}),
            None,
        ),
        // N2: the project's `.mcp.json`, at the top or in a subfolder.
        (
            "N2 .mcp.json created",
            "mcp",
            Value::Null,
            json!({"mcpServers": {"notes": server}}),
            MCP,
        ),
        (
            ".mcp.json in a folder above the project (Claude Code reads those too)",
            "parent",
            Value::Null,
            json!({"mcpServers": {"notes": server}}),
            MCP,
        ),
        (
            "N2 .mcp.json in a subfolder",
            "sub",
            json!({"mcpServers": {}}),
            json!({"mcpServers": {"notes": server}}),
            MCP,
        ),
        (
            ".mcp.json, a server changed",
            "mcp",
            json!({"mcpServers": {"notes": other}}),
            json!({"mcpServers": {"notes": server}}),
            MCP,
        ),
        (
            ".mcp.json, a server removed",
            "mcp",
            json!({"mcpServers": {"notes": server, "fs": other}}),
            json!({"mcpServers": {"fs": other}}),
            None,
        ),
        // N3: the user's `~/.claude.json`, where Claude Code keeps much else.
        (
            "N3 ~/.claude.json top-level server",
            "claude.json",
            state.clone(),
            with(&state, &|v| v["mcpServers"] = json!({"notes": server})),
            MCP,
        ),
        (
            "N3 ~/.claude.json project server",
            "claude.json",
            state.clone(),
            with(&state, &|v| {
                v["projects"][proj.as_str()]["mcpServers"] = json!({"notes": server})
            }),
            MCP,
        ),
        (
            "~/.claude.json, other state",
            "claude.json",
            state.clone(),
            with(&state, &|v| {
                v["numStartups"] = json!(5);
                v["projects"][proj.as_str()]["allowedTools"] = json!(["Bash(ls:*)"])
            }),
            None,
        ),
        (
            "~/.claude.json, a server removed",
            "claude.json",
            with(&state, &|v| v["mcpServers"] = json!({"notes": server})),
            state.clone(),
            None,
        ),
    ];
    for (why, file, before, after, expect) in rows {
        let path = row_file(&g, file);
        write_row(&g, why, &path, &before, &after, expect);
    }
    // As an Edit, through a symlink, and a Bash command naming the file: the same.
    let claude_json = g.home().join(".claude.json");
    std::fs::write(&claude_json, serde_json::to_string_pretty(&state).unwrap()).unwrap();
    let v = g.call(
        "Edit",
        json!({"file_path": claude_json, "old_string": "\"numStartups\": 4",
               "new_string": "\"numStartups\": 4, \"mcpServers\": {\"n\": {\"command\": \"sh\"}}"}),
    );
    assert!(denied(&v, "tamper").contains("MCP server"), "{v:?}");
    let v = g.call(
        "Edit",
        json!({"file_path": claude_json, "old_string": "\"numStartups\": 4", "new_string": "\"numStartups\": 9"}),
    );
    assert_eq!(v, Verdict::Silent);
    let link = g.project.join("cfg.json");
    std::os::unix::fs::symlink(&claude_json, &link).unwrap();
    let v = g.call(
        "Write",
        json!({"file_path": link, "content": "{\"mcpServers\": {\"n\": {\"command\": \"sh\"}}}"}),
    );
    assert!(denied(&v, "tamper").contains("MCP server"), "{v:?}");
    let v = g.call(
        "Write",
        json!({"file_path": g.p(".mcp.json"), "content": "{\"mcpServers\": "}),
    );
    assert!(denied(&v, "tamper").contains("unreadable"), "{v:?}");
    let v = g.bash("echo '{\"mcpServers\":{\"n\":{\"command\":\"sh\"}}}' > .mcp.json");
    assert!(denied(&v, "tamper").contains("MCP server"), "{v:?}");
}
