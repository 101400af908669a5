//! The effect check as the real `offload-hook` process runs it, around commands run for real:
//! what a concurrent writer sees, warn mode, and a command during which Codex succeeded.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use shared::ledger::{AttemptFinished, Body, Event, Ledger, Tokens};
use shared::outcome::Outcome;
use shared::paths::Paths;

struct Project {
    _t: tempfile::TempDir,
    dir: PathBuf,
    state: PathBuf,
}

impl Project {
    fn new() -> Project {
        let t = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(t.path()).unwrap();
        let dir = root.join("p");
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/lib.rs"), "fn a() {}\n").unwrap();
        std::fs::write(dir.join("src/user.rs"), "// user\n").unwrap();
        common::commit_all(&dir);
        Project {
            _t: t,
            state: root.join("state"),
            dir,
        }
    }

    fn hook(&self, event: &str, command: &str, mode: Option<&str>) -> String {
        let payload: Value = json!({"session_id": "s1", "cwd": self.dir, "hook_event_name": event,
            "tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "toolu_1",
            "tool_response": {"stdout": "", "stderr": ""}});
        common::hook(&self.dir, &self.state, &payload, mode)
    }

    /// Pre, the command for real with `during` run while it runs, then Post.
    fn play(&self, command: &str, mode: Option<&str>, during: impl FnOnce()) -> (String, String) {
        let pre = self.hook("PreToolUse", command, mode);
        let mut child = Command::new("bash")
            .arg("-c")
            .arg(command)
            .current_dir(&self.dir)
            .spawn()
            .unwrap();
        during();
        assert!(child.wait().unwrap().success());
        let post = self.hook("PostToolUse", command, mode);
        (pre, post)
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.dir.join(rel)).unwrap()
    }
}

fn user_edit(p: &Path) {
    std::thread::sleep(Duration::from_millis(150));
    std::fs::write(p.join("src/user.rs"), "// the user's edit\n").unwrap();
}

#[test]
fn a_user_edit_during_a_command_that_is_read_completely_is_never_touched() {
    let p = Project::new();
    // (Not git: on a freshly provisioned machine a git installed today is watched like any new
    // program.)
    let (pre, post) = p.play("sleep 0.4; ls src; cat src/lib.rs | wc -l", None, || {
        user_edit(&p.dir)
    });
    assert_eq!((pre.as_str(), post.as_str()), ("", ""));
    assert_eq!(p.read("src/user.rs"), "// the user's edit\n");
}

#[test]
fn a_watched_command_is_undone_and_a_concurrent_edit_is_kept_restorable() {
    let p = Project::new();
    let cmd = "sleep 0.4; python3 -c \"import pathlib; pathlib.Path('src', 'lib.rs').write_text('fn evil() {}')\"";
    let (pre, post) = p.play(cmd, None, || user_edit(&p.dir));
    assert_eq!(pre, "", "watched, not denied");
    assert!(post.contains("offload undid"), "{post}");
    assert_eq!(p.read("src/lib.rs"), "fn a() {}\n");
    // What no process can tell apart: an edit made by another program during a watched
    // command is undone with it, and kept like it (README: what neither catches).
    let records = shared::policy::effect::records(&shared::policy::effect::Store::new(&p.state));
    let kept: Vec<&str> = records[0].files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(kept, ["src/lib.rs", "src/user.rs"]);
    shared::policy::effect::restore(
        &shared::policy::effect::Store::new(&p.state),
        &records[0].id,
    )
    .unwrap();
    assert_eq!(p.read("src/user.rs"), "// the user's edit\n");
}

#[test]
fn warn_mode_reports_and_undoes_nothing() {
    let p = Project::new();
    let cmd =
        "python3 -c \"import pathlib; pathlib.Path('src', 'lib.rs').write_text('fn w() {}')\"";
    let (pre, post) = p.play(cmd, Some("warn"), || {});
    assert_eq!(pre, "");
    assert!(post.contains("would have undone"), "{post}");
    assert_eq!(p.read("src/lib.rs"), "fn w() {}");
}

/// The records an attempt that succeeded while the command ran leaves (its start and its end).
fn a_success(state: &Path) {
    Ledger::new(Paths::in_folder(state.to_path_buf()))
        .append(&[
            Event::now(
                Some("s1"),
                Body::TurnStarted {
                    prompt_id: None,
                    project: None,
                },
            ),
            Event::now(
                Some("s1"),
                Body::AttemptFinished(Box::new(AttemptFinished {
                    unconfigured_codex: None,
                    attempt: "a".into(),
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
                    resumed_from: None,
                    job: None,
                    trace: None,
                })),
            ),
        ])
        .unwrap();
}

#[test]
fn an_attempt_that_succeeded_during_the_command_unlocks_its_writes() {
    let p = Project::new();
    // A command that runs `offload run` (here it is not installed: the words are what counts).
    let cmd = "offload run 'x' >/dev/null 2>&1; \
               python3 -c \"import pathlib; pathlib.Path('src', 'lib.rs').write_text('fn c() {}')\"";
    let (pre, post) = p.play(cmd, None, || a_success(&p.state));
    assert_eq!((pre.as_str(), post.as_str()), ("", ""));
    assert_eq!(p.read("src/lib.rs"), "fn c() {}");
}

#[test]
fn a_success_recorded_by_a_command_that_runs_no_offload_is_tampering() {
    let p = Project::new();
    let cmd =
        "python3 -c \"import pathlib; pathlib.Path('src', 'lib.rs').write_text('fn c() {}')\"";
    let (pre, post) = p.play(cmd, None, || a_success(&p.state));
    assert_eq!(pre, "");
    assert!(post.contains("behind the guard"), "{post}");
    assert_eq!(p.read("src/lib.rs"), "fn a() {}\n", "its write is undone");
}

#[test]
fn a_snapshot_removed_or_spoiled_while_the_command_runs_is_reported_and_recorded() {
    let cmd =
        "python3 -c \"import pathlib; pathlib.Path('src', 'lib.rs').write_text('fn x() {}')\"";
    let unchecked = |p: &Project| {
        Ledger::new(Paths::in_folder(p.state.clone()))
            .read_log()
            .unwrap()
            .events
            .into_iter()
            .filter(|e| matches!(&e.body, Body::GuardDenied { reason, .. } if reason == "effect-unchecked"))
            .count()
    };
    let p = Project::new();
    let pending = p.state.join("guard/pending");
    let (_, post) = p.play(cmd, None, || {
        std::fs::remove_dir_all(&pending).unwrap();
    });
    assert!(post.contains("the snapshot is gone"), "{post}");
    assert_eq!(unchecked(&p), 1);

    let p = Project::new();
    let pending = p.state.join("guard/pending");
    let (_, post) = p.play(cmd, None, || {
        for e in std::fs::read_dir(&pending).unwrap().flatten() {
            if e.path().extension().is_some_and(|x| x == "snap") {
                std::fs::write(e.path(), b"garbage").unwrap();
            }
        }
    });
    assert!(post.contains("could not be read back"), "{post}");
    assert_eq!(unchecked(&p), 1);
}
