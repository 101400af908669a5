//! Inputs built to hang or flood the hook: each is answered with a denial well within Claude
//! Code's hook timeout, by the real `offload-hook` process.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const HOOK: &str = env!("CARGO_BIN_EXE_offload-hook");

/// Run the hook on `payload` in `project`; (stdout, exit code, time taken).
fn hook(project: &Path, state: &Path, payload: &Value) -> (String, i32, Duration) {
    let start = Instant::now();
    let mut child = Command::new(HOOK)
        .current_dir(project)
        .env("OFFLOAD_HOME", state)
        .env("CLAUDE_PROJECT_DIR", project)
        .env("HOME", state)
        .env_remove("OFFLOAD_MODE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let bytes = payload.to_string().into_bytes();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&bytes);
    });
    // Bounded wait: a hang fails the test instead of hanging it.
    let deadline = start + Duration::from_secs(20);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the hook hung on {:.200}", payload.to_string());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    writer.join().unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
        start.elapsed(),
    )
}

fn bash(project: &Path, command: &str) -> Value {
    json!({"session_id": "s", "cwd": project, "hook_event_name": "PreToolUse",
           "tool_name": "Bash", "tool_input": {"command": command}, "tool_use_id": "t1"})
}

#[track_caller]
fn denied_quickly(out: &(String, i32, Duration), needle: &str) {
    assert!(out.0.contains("\"deny\""), "not denied: {:?}", out.0);
    assert!(out.0.contains(needle), "{needle:?} not in {:?}", out.0);
    assert!(out.2 < Duration::from_secs(8), "took {:?}", out.2);
}

#[test]
fn inputs_that_would_hang_or_flood_are_denied_in_time() {
    let t = tempfile::tempdir().unwrap();
    let project = std::fs::canonicalize(t.path()).unwrap().join("p");
    let state = project.parent().unwrap().join("state");
    std::fs::create_dir_all(project.join("docs/plans")).unwrap();
    std::fs::create_dir_all(&state).unwrap();
    let fifo = project.join("fix.patch");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );

    // A FIFO named as a patch: never opened for a blocking read.
    for cmd in [
        "git apply fix.patch",
        "patch -p1 < fix.patch",
        "patch -p1 -i fix.patch",
    ] {
        let out = hook(&project, &state, &bash(&project, cmd));
        denied_quickly(&out, "not a regular file");
    }
    // A plan path that is a FIFO or a link to /dev/zero.
    let plan_fifo = project.join("docs/plans/2026-11-29-x.md");
    assert!(
        Command::new("mkfifo")
            .arg(&plan_fifo)
            .status()
            .unwrap()
            .success()
    );
    let edit = |plan: &Path| {
        json!({"session_id": "s", "cwd": project, "hook_event_name": "PreToolUse",
            "tool_name": "Edit", "tool_input": {"file_path": plan, "old_string": "a", "new_string": "b"}})
    };
    denied_quickly(
        &hook(&project, &state, &edit(&plan_fifo)),
        "not a regular file",
    );
    // A plan name that is a link is judged by what it points to: /dev/zero is no file of the
    // project, and it is answered at once, never read.
    let plan_zero = project.join("docs/plans/2026-11-29-zero.md");
    std::os::unix::fs::symlink("/dev/zero", &plan_zero).unwrap();
    let out = hook(&project, &state, &edit(&plan_zero));
    assert!(!out.0.contains("\"deny\""), "{:?}", out.0);
    assert!(out.2 < Duration::from_secs(8), "took {:?}", out.2);
    // 257 write targets, 40 levels of nesting, a 16 MiB command.
    let many: Vec<String> = (0..257).map(|i| format!("echo > out{i}.txt")).collect();
    denied_quickly(
        &hook(&project, &state, &bash(&project, &many.join("; "))),
        "more than 256 files",
    );
    let deep = format!("{}echo hi{}", "$(".repeat(40), ")".repeat(40));
    denied_quickly(&hook(&project, &state, &bash(&project, &deep)), "32 levels");
    let big = format!("echo '{}' > notes.txt", "x".repeat(16 << 20));
    denied_quickly(&hook(&project, &state, &bash(&project, &big)), "16 MiB");
    // An ordinary command is still silent.
    let (out, code, _) = hook(&project, &state, &bash(&project, "ls -la && git status"));
    assert_eq!((out.as_str(), code), ("", 0));
}
