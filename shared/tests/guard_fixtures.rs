//! The hook on payloads captured from the real Claude Code 2.1.330 and 2.1.197
//! (`fixtures/claude/README.md` says how each was made). The capture's temporary project is
//! rewritten to this test's own.

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::Value;

use shared::ledger::{Body, SessionSummary};
use shared::paths::Paths;
use shared::policy::hook::{Answer, Env, answer};

const VERSIONS: [&str; 2] = ["2.1.330", "2.1.197"];

struct World {
    _dir: tempfile::TempDir,
    project: PathBuf,
    env: Env,
}

impl World {
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let project = root.join("project");
        std::fs::create_dir_all(project.join("src")).unwrap();
        World {
            env: Env {
                paths: Paths::in_folder(root.join("state")),
                mode: None,
                project_dir: Some(project.clone()),
                env_file: Some(root.join("env")),
                home: Some(root.join("home")),
                codex_home: None,
                codex_found: None,
                now: Utc::now(),
                tmpdir: None,
                prompt_sender: || Ok(None),
                prompt_nested: || None,
            },
            project,
            _dir: dir,
        }
    }

    /// The fixture with its capture folder replaced by this world's, and `edit` applied.
    fn payload(&self, version: &str, name: &str, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/claude")
            .join(version)
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut v: Value = serde_json::from_str(&text).unwrap();
        let captured = v["cwd"].as_str().unwrap().to_owned();
        let text = text.replace(&captured, &self.project.display().to_string());
        v = serde_json::from_str(&text).unwrap();
        edit(&mut v);
        v.to_string().into_bytes()
    }

    fn answer(&self, stdin: &[u8], session: Option<SessionSummary>) -> Answer {
        answer(stdin, &self.env, |_| session.clone())
    }
}

fn deny_reason(a: &Answer) -> Option<String> {
    let v: Value = serde_json::from_str(&a.stdout).ok()?;
    assert_eq!(v["hookSpecificOutput"]["hookEventName"], "PreToolUse");
    (v["hookSpecificOutput"]["permissionDecision"] == "deny").then(|| {
        v["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap()
            .to_owned()
    })
}

fn code_path(v: &mut Value, key: &str, project: &Path) {
    v["tool_input"][key] = Value::String(project.join("src/lib.rs").display().to_string());
}

#[test]
fn edits_writes_and_notebooks_of_code_are_denied_and_of_notes_are_not() {
    for version in VERSIONS {
        let w = World::new();
        for (file, key) in [
            ("pre-tool-use-edit.json", "file_path"),
            ("pre-tool-use-write.json", "file_path"),
        ] {
            let notes = w.answer(&w.payload(version, file, |_| {}), None);
            assert_eq!(
                notes.stdout, "",
                "{version} {file}: a .txt file is not code"
            );
            let p = w.project.clone();
            let code = w.answer(&w.payload(version, file, |v| code_path(v, key, &p)), None);
            let reason = deny_reason(&code).unwrap_or_else(|| panic!("{version} {file}: {code:?}"));
            assert!(reason.contains("editing src/lib.rs"), "{reason}");
            let Body::GuardDenied { tool, .. } = &code.record[0].body else {
                panic!()
            };
            assert!(tool == "Edit" || tool == "Write");
            assert!(
                code.record[0]
                    .session
                    .as_deref()
                    .is_some_and(|s| s.len() == 36)
            );
        }
        let nb = w.answer(
            &w.payload(version, "pre-tool-use-notebook-edit.json", |_| {}),
            None,
        );
        assert!(deny_reason(&nb).is_some(), "{version}: a notebook is code");
    }
}

#[test]
fn the_explore_subagent_is_denied_and_work_inside_it_is_judged_alike() {
    for version in VERSIONS {
        let w = World::new();
        let a = w.answer(
            &w.payload(version, "pre-tool-use-agent-explore.json", |_| {}),
            None,
        );
        let reason = deny_reason(&a).unwrap();
        assert!(
            reason.contains("the Explore subagent") && reason.contains("read-only"),
            "{reason}"
        );
        let inside = w.answer(
            &w.payload(version, "pre-tool-use-inside-subagent.json", |_| {}),
            None,
        );
        assert_eq!(
            inside.stdout, "",
            "{version}: `ls` inside a subagent writes nothing"
        );
        let p = w.project.clone();
        let write_inside = w.payload(version, "pre-tool-use-inside-subagent.json", |v| {
            v["tool_input"]["command"] =
                Value::String(format!("echo x > {}/src/lib.rs", p.display()));
        });
        assert!(deny_reason(&w.answer(&write_inside, None)).is_some());
    }
}

#[test]
fn a_successful_attempt_in_the_turn_lets_the_same_calls_through() {
    for version in VERSIONS {
        let w = World::new();
        let p = w.project.clone();
        let stdin = w.payload(version, "pre-tool-use-edit.json", |v| {
            code_path(v, "file_path", &p)
        });
        let sid = serde_json::from_slice::<Value>(&stdin).unwrap()["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let mut s = SessionSummary::new(&sid);
        s.turn = 1;
        s.last_attempt = Some(shared::ledger::LastAttempt {
            attempt: "a".into(),
            ts: Utc::now(),
            turn: 1,
            outcome: shared::outcome::Outcome::Success,
            model: "gpt-5.3-codex".into(),
            sandbox: "workspace-write".into(),
            work_type: None,
            error: None,
            cwd: None,
        });
        assert_eq!(w.answer(&stdin, Some(s.clone())).stdout, "");
        let explore = w.payload(version, "pre-tool-use-agent-explore.json", |_| {});
        assert_eq!(w.answer(&explore, Some(s)).stdout, "");
    }
}

#[test]
fn bash_echo_and_post_tool_use_pass() {
    for version in VERSIONS {
        let w = World::new();
        for file in ["pre-tool-use-bash.json", "post-tool-use-bash.json"] {
            let a = w.answer(&w.payload(version, file, |_| {}), None);
            assert_eq!(
                (a.stdout.as_str(), a.exit, a.record.len()),
                ("", 0, 0),
                "{version} {file}"
            );
        }
    }
}

#[test]
fn prompts_and_task_notifications() {
    for version in VERSIONS {
        let w = World::new();
        let a = w.answer(&w.payload(version, "user-prompt-submit.json", |_| {}), None);
        assert!(
            matches!(a.record.as_slice(), [e] if matches!(e.body, Body::TurnStarted { .. })),
            "{version}"
        );
        let a = w.answer(
            &w.payload(version, "user-prompt-task-notification.json", |_| {}),
            None,
        );
        assert!(
            a.record.is_empty(),
            "{version}: a task notification is not a turn"
        );
        let a = w.answer(
            &w.payload(version, "user-prompt-submit.json", |v| {
                v["prompt"] = Value::String("yes, approve fallback".into());
            }),
            None,
        );
        assert!(
            matches!(&a.record[1].body, Body::ApprovalGranted { source, .. } if source == "prompt")
        );
    }
}

#[test]
fn session_start_exports_the_id() {
    for version in VERSIONS {
        let w = World::new();
        let stdin = w.payload(version, "session-start.json", |_| {});
        let sid = serde_json::from_slice::<Value>(&stdin).unwrap()["session_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let a = w.answer(&stdin, None);
        assert_eq!(
            a.env_line.unwrap().1,
            format!("export OFFLOAD_SESSION_ID={sid}\n")
        );
        assert!(
            a.stdout.contains("route work to Codex first"),
            "{}",
            a.stdout
        );
    }
}
