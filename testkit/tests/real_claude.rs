//! The mock Messages server against the real Claude Code (2.1.332 at `.tools/bin/claude`,
//! 2.1.330 at `.tools/bin/claude-2.1.330`, 2.1.197 at `.tools/bin/claude-2.1.197`).
//!
//! These tests pin down that the real `claude` runs offline against
//! [`offload_testkit::messages::MockMessages`], runs the tools the script asks for, calls hooks
//! with the payloads offload's guard reads, obeys a hook's deny, and feeds the statusline. Without
//! the real clients they skip (and fail on CI: run `scripts/install-clients.sh claude
//! claude-2.1.330 claude-2.1.197`).
//!
//! `OFFLOAD_CAPTURE_FIXTURES=1 cargo test -p offload-testkit --test real_claude` also writes the
//! captured payloads to `shared/tests/fixtures/claude/<version>/` (see the README there).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use offload_testkit::claude::{
    ClaudeHome, HeadlessRun, hooks_settings, real_claude, require_real_claude,
};
use offload_testkit::codex::workspace_root;
use offload_testkit::messages::{MockMessages, Step, ToolResult};
use serde_json::{Value, json};

/// Generous: a run takes about a second; this only bounds a broken one.
const RUN_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the TUI gets to show something.
const SCREEN_TIMEOUT: Duration = Duration::from_secs(20);
/// The older pin, the first version offload supports.
const OLD: &str = "2.1.197";
/// The last version without the `PreSkillShellCommand` hook event (the default pin, 2.1.332, is
/// the first with it).
const MID: &str = "2.1.330";

/// Lets the tools of these tests run without prompts in the `default` permission mode (which
/// the captured payloads then report).
fn allow_tools() -> Value {
    json!({"permissions": {"allow": ["Read", "Edit", "Write", "Bash", "NotebookEdit"]}})
}

/// [`allow_tools`] plus [`hooks_settings`] for `hook`.
fn with_hooks(hook: &Path) -> Value {
    let mut settings = allow_tools();
    settings["hooks"] = hooks_settings(&hook.display().to_string(), 10)["hooks"].clone();
    settings
}

/// An executable shell script `name` in the temporary folder.
fn script(home: &ClaudeHome, name: &str, body: &str) -> PathBuf {
    let path = home.root().join(name);
    fs::write(&path, format!("#!/bin/sh\n{body}")).expect("write a script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod a script");
    path
}

/// A hook that appends its stdin as one line to `hooks.jsonl`, and its event name (with
/// `(subagent)` when the payload has an `agent_id`) followed by the names of its environment
/// variables as one line to `hooks-env.txt`; exits 0 silently.
fn recorder(home: &ClaudeHome) -> (PathBuf, PathBuf) {
    let log = home.root().join("hooks.jsonl");
    let hook = script(
        home,
        "recorder.sh",
        &format!(
            r#"payload=$(cat)
printf '%s\n' "$payload" >> '{log}'
event=$(printf '%s' "$payload" | sed -n 's/.*"hook_event_name":"\([A-Za-z]*\)".*/\1/p')
case "$payload" in *'"agent_id":'*) event="$event(subagent)" ;; esac
names=$(env | cut -d= -f1 | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | sort -u | tr '\n' ' ')
printf '%s %s\n' "$event" "$names" >> '{env_log}'
exit 0
"#,
            log = log.display(),
            env_log = home.root().join("hooks-env.txt").display(),
        ),
    );
    (hook, log)
}

/// The lines of a file written by a recorder, raw (as Claude Code sent them).
fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn parsed(line: &str) -> Value {
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

fn assert_ok(run: &HeadlessRun) {
    assert_eq!(run.code, Some(0), "{}", run.shown());
    let result = run.result.as_ref().expect("a result event");
    assert_eq!(result["is_error"], false, "{}", run.shown());
}

/// The version the run reported (`claude_code_version` of the init event).
fn reported_version(run: &HeadlessRun) -> String {
    run.events
        .iter()
        .find_map(|e| e["claude_code_version"].as_str())
        .unwrap_or("unknown")
        .to_string()
}

fn capturing() -> bool {
    std::env::var_os("OFFLOAD_CAPTURE_FIXTURES").is_some_and(|v| !v.is_empty())
}

/// Writes `shared/tests/fixtures/claude/<version>/<name>` when `OFFLOAD_CAPTURE_FIXTURES` is set.
fn capture(version: &str, name: &str, contents: &str) {
    if capturing() {
        let dir = workspace_root()
            .join("shared/tests/fixtures/claude")
            .join(version);
        fs::create_dir_all(&dir).expect("create the fixtures folder");
        let mut contents = contents.to_string();
        if !contents.ends_with('\n') {
            contents.push('\n');
        }
        fs::write(dir.join(name), contents).expect("write a fixture");
    }
}

fn result_with<'a>(results: &'a [ToolResult], needle: &str) -> Option<&'a ToolResult> {
    results.iter().find(|r| r.content.contains(needle))
}

/// (a) and (d): a scripted Write creates the file, and its result reaches the mock.
fn write_creates_the_file(version: Option<&str>) {
    let Some(claude) = require_real_claude(version) else {
        return;
    };
    let mock = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&mock.base_url());
    home.settings(allow_tools());
    let target = home.project().join("hello.txt");
    mock.push(Step::tool_use(
        "Write",
        json!({"file_path": target, "content": "hello from the mock\n"}),
    ));
    mock.push(Step::text("done"));

    let run = home.run_headless(&claude, &home.project(), "write it", &[], RUN_TIMEOUT);
    assert_ok(&run);
    assert_eq!(run.result.as_ref().unwrap()["result"], "done");
    assert_eq!(
        fs::read_to_string(&target).ok().as_deref(),
        Some("hello from the mock\n"),
        "{}",
        run.shown()
    );
    let results = mock.tool_results();
    assert_eq!(results.len(), 1, "{results:#?}");
    assert!(!results[0].is_error, "{results:#?}");
    assert_eq!(run.tool_uses()[0]["id"], results[0].tool_use_id.as_str());
    assert_eq!(mock.remaining(), 0);
    let session = run.session_id.clone().expect("a session id");

    // The same session continues with --resume and sees the earlier result.
    mock.push(Step::text("resumed"));
    let resumed = home.run_headless(
        &claude,
        &home.project(),
        "and now?",
        &["--resume", &session],
        RUN_TIMEOUT,
    );
    assert_ok(&resumed);
    assert_eq!(resumed.result.as_ref().unwrap()["result"], "resumed");
    assert_eq!(resumed.session_id.as_deref(), Some(session.as_str()));
    let last = mock.turns().pop().expect("a turn");
    assert_eq!(
        last.tool_results().len(),
        1,
        "the resumed turn carries the history"
    );
}

#[test]
fn headless_write_creates_the_file() {
    write_creates_the_file(None);
}

#[test]
fn headless_write_creates_the_file_2_1_197() {
    write_creates_the_file(Some(OLD));
}

/// The subagent's prompt carries this marker, so its turns take their own script.
const SUBAGENT: &str = "SUBAGENT-MARK";

/// (b): one session that fires every hook event offload uses, recorded by a hook registered with
/// [`hooks_settings`]; the payloads become the fixtures.
fn recorder_sees_every_event(version: Option<&str>) {
    let Some(claude) = require_real_claude(version) else {
        return;
    };
    let mock = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&mock.base_url());
    let (hook, log) = recorder(&home);
    home.settings(with_hooks(&hook));
    let project = home.project();
    let notes = project.join("notes.txt");
    let notebook = project.join("analysis.ipynb");
    let created = project.join("new.txt");
    fs::write(&notes, "alpha\n").unwrap();
    fs::write(
        &notebook,
        json!({
            "cells": [{"cell_type": "code", "id": "cell-1", "metadata": {}, "execution_count": null, "outputs": [], "source": ["print(1)\n"]}],
            "metadata": {"language_info": {"name": "python"}},
            "nbformat": 4,
            "nbformat_minor": 5,
        })
        .to_string(),
    )
    .unwrap();
    let prompt = "tidy up the notes";
    for step in [
        // Two reads in one message: Claude Code runs parallel calls.
        Step::tool_uses(vec![
            ("Read", json!({"file_path": notes})),
            ("Read", json!({"file_path": notebook})),
        ]),
        Step::tool_use(
            "Edit",
            json!({"file_path": notes, "old_string": "alpha", "new_string": "beta"}),
        ),
        Step::tool_use(
            "Write",
            json!({"file_path": created, "content": "created\n"}),
        ),
        Step::tool_use(
            "Bash",
            json!({"command": "echo hello-from-bash", "description": "Say hello"}),
        ),
        Step::tool_use(
            "NotebookEdit",
            json!({"notebook_path": notebook, "cell_id": "cell-1", "new_source": "print(2)"}),
        ),
        // Background explicitly: 2.1.330 and later background agents by default, 2.1.197 does not.
        Step::tool_use(
            "Agent",
            json!({"description": "Explore the project", "prompt": format!("{SUBAGENT}: list the files"), "subagent_type": "Explore", "run_in_background": true}),
        ),
        Step::text("the agent is running"),
        // The answer to the task notification.
        Step::text("all done"),
    ] {
        mock.push(step);
    }
    mock.script_for(
        SUBAGENT,
        vec![
            Step::tool_use(
                "Bash",
                json!({"command": "ls", "description": "List files"}),
            ),
            Step::text("explored"),
        ],
    );

    let run = home.run_headless(&claude, &project, prompt, &[], RUN_TIMEOUT);
    assert_ok(&run);
    assert_eq!(
        fs::read_to_string(&notes).unwrap(),
        "beta\n",
        "{}",
        run.shown()
    );
    assert_eq!(fs::read_to_string(&created).unwrap(), "created\n");
    assert!(
        fs::read_to_string(&notebook).unwrap().contains("print(2)"),
        "NotebookEdit ran"
    );
    let results = mock.tool_results();
    assert!(
        results.iter().all(|r| !r.is_error),
        "no tool failed: {results:#?}"
    );
    assert!(result_with(&results, "hello-from-bash").is_some());
    assert_eq!(mock.remaining(), 0, "{results:#?}");
    assert_eq!(mock.remaining_for(SUBAGENT), 0);

    let payloads: Vec<(String, Value)> = lines(&log)
        .into_iter()
        .map(|line| {
            let value = parsed(&line);
            (line, value)
        })
        .collect();
    let find = |what: &str, pick: &dyn Fn(&Value) -> bool| -> String {
        payloads
            .iter()
            .find(|(_, v)| pick(v))
            .map(|(line, _)| line.clone())
            .unwrap_or_else(|| panic!("no {what} payload in {payloads:#?}"))
    };
    let event = |v: &Value, name: &str| v["hook_event_name"] == name;
    let main_pre = |v: &Value, tool: &str| {
        event(v, "PreToolUse") && v["tool_name"] == tool && v.get("agent_id").is_none()
    };
    let session_id = run.session_id.clone().unwrap();
    for (_, v) in &payloads {
        assert_eq!(v["session_id"], session_id.as_str(), "{v}");
        assert_eq!(v["cwd"], project.display().to_string(), "{v}");
        assert!(v["transcript_path"].as_str().is_some(), "{v}");
    }

    let fixtures = [
        (
            "session-start.json",
            find("SessionStart", &|v| {
                event(v, "SessionStart") && v["source"] == "startup"
            }),
        ),
        (
            "user-prompt-submit.json",
            find("UserPromptSubmit", &|v| {
                event(v, "UserPromptSubmit") && v["prompt"] == prompt
            }),
        ),
        (
            "user-prompt-task-notification.json",
            find("task-notification", &|v| {
                event(v, "UserPromptSubmit")
                    && v["prompt"]
                        .as_str()
                        .is_some_and(|p| p.starts_with("<task-notification>"))
            }),
        ),
        (
            "pre-tool-use-edit.json",
            find("PreToolUse Edit", &|v| {
                main_pre(v, "Edit") && v["tool_input"]["old_string"] == "alpha"
            }),
        ),
        (
            "pre-tool-use-write.json",
            find("PreToolUse Write", &|v| main_pre(v, "Write")),
        ),
        (
            "pre-tool-use-bash.json",
            find("PreToolUse Bash", &|v| main_pre(v, "Bash")),
        ),
        (
            "pre-tool-use-notebook-edit.json",
            find("PreToolUse NotebookEdit", &|v| main_pre(v, "NotebookEdit")),
        ),
        (
            "pre-tool-use-agent-explore.json",
            find("PreToolUse Agent", &|v| {
                main_pre(v, "Agent") && v["tool_input"]["subagent_type"] == "Explore"
            }),
        ),
        (
            "pre-tool-use-inside-subagent.json",
            find("PreToolUse in a subagent", &|v| {
                event(v, "PreToolUse") && v["agent_id"].is_string()
            }),
        ),
        (
            "post-tool-use-bash.json",
            find("PostToolUse Bash", &|v| {
                event(v, "PostToolUse") && v["tool_name"] == "Bash" && v.get("agent_id").is_none()
            }),
        ),
    ];
    let by_name = |name: &str| {
        parsed(
            &fixtures
                .iter()
                .find(|(n, _)| *n == name)
                .expect("a fixture")
                .1,
        )
    };
    let pre_bash = by_name("pre-tool-use-bash.json");
    assert_eq!(pre_bash["tool_input"]["command"], "echo hello-from-bash");
    assert!(
        pre_bash["tool_use_id"]
            .as_str()
            .unwrap()
            .starts_with("toolu_")
    );
    assert_eq!(pre_bash["permission_mode"], "default");
    let post_bash = by_name("post-tool-use-bash.json");
    assert!(
        post_bash["tool_response"]["stdout"]
            .as_str()
            .is_some_and(|out| out.contains("hello-from-bash")),
        "{post_bash}"
    );
    let inside = by_name("pre-tool-use-inside-subagent.json");
    assert_eq!(inside["agent_type"], "Explore", "{inside}");
    assert_eq!(inside["tool_name"], "Bash");
    assert_eq!(
        by_name("pre-tool-use-edit.json")["tool_input"]["file_path"],
        notes.display().to_string()
    );
    assert!(
        !payloads
            .iter()
            .any(|(_, v)| event(v, "PreToolUse") && v["tool_name"] == "Read"),
        "Read is not in the matcher"
    );

    let version = reported_version(&run);
    for (name, line) in &fixtures {
        capture(&version, name, line);
    }
    capture(&version, "hook-env.txt", &hook_env_report(&home));
}

/// Per hook event, the names of the variables Claude Code added to the environment it was given
/// (the hook's environment minus the child's own), one event per line, deduplicated.
fn hook_env_report(home: &ClaudeHome) -> String {
    // What `claude` was given: this process's environment, minus what the command removes,
    // plus what it sets.
    let command = home.command(Path::new("claude"), home.root());
    let mut given: BTreeSet<String> = std::env::vars_os()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect();
    for (name, value) in command.get_envs() {
        let name = name.to_string_lossy().into_owned();
        if value.is_some() {
            given.insert(name);
        } else {
            given.remove(&name);
        }
    }
    let mut seen = BTreeSet::new();
    let mut report = String::from(
        "# event: variables Claude Code set for the hook (its environment minus the one claude was given)\n",
    );
    for line in lines(&home.root().join("hooks-env.txt")) {
        let mut words = line.split_whitespace();
        let event = words.next().unwrap_or_default().to_string();
        let added: Vec<&str> = words
            .filter(|name| !given.contains(*name) && *name != "_" && *name != "OLDPWD")
            .collect();
        let entry = format!("{event}: {}", added.join(" "));
        if seen.insert(entry.clone()) {
            report.push_str(&entry);
            report.push('\n');
        }
    }
    report
}

#[test]
fn recorder_hook_sees_every_event() {
    recorder_sees_every_event(None);
}

#[test]
fn recorder_hook_sees_every_event_2_1_197() {
    recorder_sees_every_event(Some(OLD));
}

#[test]
fn recorder_hook_sees_every_event_2_1_330() {
    recorder_sees_every_event(Some(MID));
}

/// A Bash command that exits non-zero fires `PostToolUseFailure` (with `error`), not
/// `PostToolUse`; a `run_in_background` one fires `PostToolUse` at once, with an empty output and
/// a `backgroundTaskId`, and no hook when it ends (the model gets a task notification).
fn bash_failure_and_background(version: Option<&str>) {
    let Some(claude) = require_real_claude(version) else {
        return;
    };
    let mock = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&mock.base_url());
    let (hook, log) = recorder(&home);
    let mut settings = with_hooks(&hook);
    settings["hooks"]["PostToolUseFailure"] = settings["hooks"]["PostToolUse"].clone();
    home.settings(settings);
    let finished = home.root().join("background-finished");
    for step in [
        Step::tool_use(
            "Bash",
            json!({"command": "echo out-fail; echo err-fail >&2; exit 3", "description": "Fail"}),
        ),
        Step::tool_use(
            "Bash",
            json!({"command": format!("sleep 1; touch '{}'", finished.display()), "description": "In the background", "run_in_background": true}),
        ),
        // Outlives the background command, so its notification arrives within the session.
        Step::tool_use("Bash", json!({"command": "sleep 3", "description": "Wait"})),
        Step::text("done"),
    ] {
        mock.push(step);
    }
    let run = home.run_headless(&claude, &home.project(), "run them", &[], RUN_TIMEOUT);
    assert_ok(&run);
    assert!(finished.exists(), "the background command ran");
    let results = mock.tool_results();
    assert!(results[0].is_error, "{results:#?}");
    assert_eq!(results[0].content, "Exit code 3\nout-fail\nerr-fail");

    let payloads: Vec<(String, Value)> = lines(&log)
        .into_iter()
        .map(|line| {
            let value = parsed(&line);
            (line, value)
        })
        .collect();
    let after = |event: &str, marker: &str| -> Vec<&(String, Value)> {
        payloads
            .iter()
            .filter(|(_, v)| {
                v["hook_event_name"] == event
                    && v["tool_input"]["command"]
                        .as_str()
                        .is_some_and(|c| c.contains(marker))
            })
            .collect()
    };
    assert!(after("PostToolUse", "exit 3").is_empty(), "{payloads:#?}");
    let failure = after("PostToolUseFailure", "exit 3");
    assert_eq!(failure.len(), 1, "{payloads:#?}");
    assert_eq!(failure[0].1["error"], "Exit code 3\nout-fail\nerr-fail");
    assert_eq!(failure[0].1["is_interrupt"], false);
    assert!(failure[0].1.get("tool_response").is_none());
    let background = after("PostToolUse", "background-finished");
    assert_eq!(background.len(), 1, "{payloads:#?}");
    let response = &background[0].1["tool_response"];
    assert_eq!(response["stdout"], "", "{response}");
    assert!(response["backgroundTaskId"].is_string(), "{response}");
    assert!(after("PostToolUseFailure", "background-finished").is_empty());
    let notified = mock.turns().iter().any(|t| {
        t.body.to_string().contains("<task-notification>")
            && t.body.to_string().contains("completed (exit code 0)")
    });
    assert!(
        notified,
        "the model hears that the background command ended"
    );

    let version = reported_version(&run);
    capture(&version, "post-tool-use-failure-bash.json", &failure[0].0);
    capture(
        &version,
        "post-tool-use-bash-background.json",
        &background[0].0,
    );
}

#[test]
fn bash_failure_and_background_hooks() {
    bash_failure_and_background(None);
}

#[test]
fn bash_failure_and_background_hooks_2_1_197() {
    bash_failure_and_background(Some(OLD));
}

#[test]
fn bash_failure_and_background_hooks_2_1_330() {
    bash_failure_and_background(Some(MID));
}

/// A project skill `probe` whose body runs `` !`cmd` `` (touching `marker`), and hooks: the
/// recorder for every event offload uses, and `skill_hook` for `PreSkillShellCommand`.
fn skill_world(home: &ClaudeHome, skill_hook: &Path, extra: Value) -> PathBuf {
    let marker = home.root().join("skill-command-ran");
    let dir = home.project().join(".claude/skills/probe");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("SKILL.md"),
        format!(
            "---\nname: probe\ndescription: A probe skill\n---\n\nInline: !`echo SKILL-INLINE-OUT; touch '{}'`\n\nSay what you saw.\n",
            marker.display()
        ),
    )
    .unwrap();
    let (recorder, _) = recorder(home);
    let mut settings = with_hooks(&recorder);
    settings["hooks"]["PreSkillShellCommand"] = json!([{"matcher": "Bash", "hooks": [
        {"type": "command", "command": skill_hook, "timeout": 10}]}]);
    for (key, value) in extra.as_object().into_iter().flatten() {
        settings[key] = value.clone();
    }
    home.settings(settings);
    marker
}

/// The skill's text as the model got it (the user message holding the skill's base folder).
fn skill_text(mock: &MockMessages) -> String {
    let turn = mock.turns().into_iter().next().expect("a turn");
    turn.body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["text"].as_str().map(str::to_string))
        .find(|t| t.contains("Base directory for this skill"))
        .unwrap_or_default()
}

/// 2.1.332: `/probe` fires `PreSkillShellCommand` before the skill's inline command (matcher:
/// the `tool_name`, `Bash`); a deny stops it and the model reads
/// `[not run: blocked by hook: R]` in its place.
#[test]
fn a_skill_inline_command_fires_pre_skill_shell_command_2_1_332() {
    let Some(claude) = require_real_claude(None) else {
        return;
    };
    let mock = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&mock.base_url());
    let log = home.root().join("skill-hook.jsonl");
    let deny = script(
        &home,
        "skill-deny.sh",
        &format!(
            r#"payload=$(cat)
printf '%s
' "$payload" >> '{}'
printf '%s
' '{{"hookSpecificOutput":{{"hookEventName":"PreSkillShellCommand","permissionDecision":"deny","permissionDecisionReason":"R-SKILL"}}}}'
"#,
            log.display()
        ),
    );
    let marker = skill_world(&home, &deny, json!({}));
    mock.push(Step::text("skill read"));
    let run = home.run_headless(&claude, &home.project(), "/probe", &[], RUN_TIMEOUT);
    assert_ok(&run);
    assert!(!marker.exists(), "the deny stopped the inline command");
    let text = skill_text(&mock);
    assert!(
        text.contains("Inline: [not run: blocked by hook: R-SKILL]"),
        "{text}"
    );
    let payloads = lines(&log);
    assert_eq!(payloads.len(), 1, "{payloads:#?}");
    let v = parsed(&payloads[0]);
    assert_eq!(v["hook_event_name"], "PreSkillShellCommand");
    assert_eq!(v["tool_name"], "Bash");
    assert!(
        v["tool_input"]["command"]
            .as_str()
            .is_some_and(|c| c.starts_with("echo SKILL-INLINE-OUT; touch ")),
        "{v}"
    );
    assert_eq!(v["command_name"], "probe");
    assert_eq!(v["command_source"], "projectSettings");
    assert_eq!(v["invoked_by"], "user");
    capture(
        &reported_version(&run),
        "pre-skill-shell-command.json",
        &payloads[0],
    );
}

/// 2.1.330 knows no `PreSkillShellCommand`: a settings file naming it still works (its other
/// hooks fire), the inline command runs unchecked, and only `disableSkillShellExecution` stops it.
#[test]
fn before_2_1_332_skill_inline_commands_run_unchecked() {
    for (extra, runs) in [
        (json!({}), true),
        (json!({"disableSkillShellExecution": true}), false),
    ] {
        let Some(claude) = require_real_claude(Some(MID)) else {
            return;
        };
        let mock = MockMessages::start().unwrap();
        let home = ClaudeHome::new(&mock.base_url());
        let never = script(&home, "skill-hook.sh", "touch \"$0.ran\"; exit 2\n");
        let marker = skill_world(&home, &never, extra);
        mock.push(Step::text("skill read"));
        let run = home.run_headless(&claude, &home.project(), "/probe", &[], RUN_TIMEOUT);
        assert_ok(&run);
        assert_eq!(marker.exists(), runs, "{}", run.shown());
        assert!(!home.root().join("skill-hook.sh.ran").exists());
        let events: Vec<Value> = lines(&home.root().join("hooks.jsonl"))
            .iter()
            .map(|l| parsed(l))
            .collect();
        assert!(
            events
                .iter()
                .any(|v| v["hook_event_name"] == "UserPromptSubmit"),
            "the file's other hooks fire: {events:#?}"
        );
        let text = skill_text(&mock);
        let shown = if runs {
            "Inline: SKILL-INLINE-OUT"
        } else {
            "Inline: [shell command execution disabled by policy]"
        };
        assert!(text.contains(shown), "{text}");
    }
}

/// (c): a PreToolUse hook's deny stops a Write, and the reason reaches the model as an error.
fn deny_blocks_a_write(version: Option<&str>) -> Option<String> {
    let claude = require_real_claude(version)?;
    let mock = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&mock.base_url());
    let hook = script(
        &home,
        "deny.sh",
        r#"cat > /dev/null
printf '%s\n' '{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"R-MARK"}}'
"#,
    );
    home.settings(with_hooks(&hook));
    let target = home.project().join("blocked.txt");
    mock.push(Step::tool_use(
        "Write",
        json!({"file_path": target, "content": "should not exist\n"}),
    ));
    mock.push(Step::text("understood"));

    let run = home.run_headless(&claude, &home.project(), "write it", &[], RUN_TIMEOUT);
    assert_ok(&run);
    assert!(!target.exists(), "the deny stopped the Write");
    let results = mock.tool_results();
    let denied = result_with(&results, "R-MARK").unwrap_or_else(|| panic!("{results:#?}"));
    assert!(denied.is_error, "{denied:?}");
    assert_eq!(mock.remaining(), 0);
    Some(denied.content.clone())
}

#[test]
fn a_deny_hook_blocks_a_write() {
    if let Some(content) = deny_blocks_a_write(None) {
        assert_eq!(content, "PreToolUse:Write hook error: R-MARK");
    }
}

#[test]
fn a_deny_hook_blocks_a_write_2_1_197() {
    if let Some(content) = deny_blocks_a_write(Some(OLD)) {
        assert_eq!(content, "R-MARK", "2.1.197 passes the reason alone");
    }
}

/// The statusline gets its stdin in the interactive TUI, at startup and after the answer.
fn statusline_in_the_tui(version: Option<&str>) {
    let Some(claude) = require_real_claude(version) else {
        return;
    };
    let mock = MockMessages::with_script(vec![Step::text("mock answer")]).unwrap();
    let home = ClaudeHome::new(&mock.base_url());
    let log = home.root().join("statusline.jsonl");
    let env_log = home.root().join("statusline-env.txt");
    let statusline = script(
        &home,
        "statusline.sh",
        &format!(
            "payload=$(cat)\nprintf '%s\\n' \"$payload\" >> '{}'\n\
             env | cut -d= -f1 | grep -E '^[A-Za-z_][A-Za-z0-9_]*$' | sort -u > '{1}.'$$\n\
             mv '{1}.'$$ '{1}'\n\
             echo SL-MARK\n",
            log.display(),
            env_log.display(),
        ),
    );
    let mut settings = allow_tools();
    settings["statusLine"] = json!({"type": "command", "command": statusline, "padding": 0});
    home.settings(settings);
    home.seed_interactive(&home.project());

    let tui = home
        .tmux(&claude, &home.project(), 160, 40)
        .expect("start tmux");
    let screen = tui.wait_for("SL-MARK", SCREEN_TIMEOUT);
    assert!(
        screen.is_ok(),
        "statusline at startup:\n{}",
        screen.unwrap_err()
    );
    let first = lines(&log)
        .into_iter()
        .next()
        .expect("a first statusline call");
    tui.type_line("hello there");
    let screen = tui.wait_for("mock answer", SCREEN_TIMEOUT);
    assert!(screen.is_ok(), "the answer:\n{}", screen.unwrap_err());
    // The statusline runs again (debounced) after the assistant message.
    let later = wait_for_line(&log, SCREEN_TIMEOUT, |v| {
        v["cost"]["total_cost_usd"]
            .as_f64()
            .is_some_and(|c| c > 0.0)
    })
    .unwrap_or_else(|| panic!("a later statusline call: {:#?}", lines(&log)));

    let first_value = parsed(&first);
    let later_value = parsed(&later);
    assert_eq!(first_value["cwd"], home.project().display().to_string());
    assert!(first_value["session_id"].is_string());
    assert_eq!(later_value["session_id"], first_value["session_id"]);
    let version = first_value["version"]
        .as_str()
        .unwrap_or("unknown")
        .to_string();
    capture(&version, "statusline-first.json", &first);
    capture(&version, "statusline-later.json", &later);
    // The TUI runs with exactly `home.envs()` plus what `Tmux::start` gives and tmux sets for
    // a pane (and the shell running the script sets).
    let given: BTreeSet<String> = home
        .envs()
        .into_iter()
        .map(|(name, _)| name)
        .chain(
            [
                "PATH",
                "TERM",
                "LANG",
                "TMUX",
                "TMUX_PANE",
                "TMUX_TMPDIR",
                "TERM_PROGRAM",
                "TERM_PROGRAM_VERSION",
                "SHELL",
                "PWD",
                "SHLVL",
            ]
            .map(String::from),
        )
        .collect();
    let added: Vec<String> = lines(&env_log)
        .into_iter()
        .filter(|name| !given.contains(name) && name != "_" && name != "OLDPWD")
        .collect();
    assert!(added.iter().any(|n| n == "COLUMNS"), "{added:?}");
    capture(
        &version,
        "statusline-env.txt",
        &format!(
            "# variables Claude Code set for the statusline command (beyond its own environment)\n{}",
            added.join(" ")
        ),
    );
}

/// Poll `path` (JSON lines) until a line satisfies `pick`; that line, raw.
fn wait_for_line(path: &Path, timeout: Duration, pick: impl Fn(&Value) -> bool) -> Option<String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(line) = lines(path).into_iter().find(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .is_some_and(|v| pick(&v))
        }) {
            return Some(line);
        }
        if std::time::Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn statusline_gets_its_stdin_in_the_tui() {
    statusline_in_the_tui(None);
}

#[test]
fn statusline_gets_its_stdin_in_the_tui_2_1_197() {
    statusline_in_the_tui(Some(OLD));
}

#[test]
fn the_pins_resolve_to_the_tools_folder() {
    if let Some(path) = real_claude(Some(OLD)) {
        assert!(path.ends_with(format!(".tools/bin/claude-{OLD}")));
    }
    assert_eq!(real_claude(Some("0.0.0-not-installed")), None);
}

/// The `mock-messages` binary as a process: prints its URL, answers `claude -p` with its text,
/// and exits when its stdin closes.
#[test]
fn the_mock_messages_binary_serves_claude() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_mock-messages"))
        .args(["--text", "binary says hi"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut url)
        .unwrap();
    let url = url.trim().to_string();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "first line is the URL: {url:?}"
    );
    if let Some(claude) = real_claude(None) {
        let home = ClaudeHome::new(&url);
        let run = home.run_headless(&claude, &home.project(), "hi", &[], RUN_TIMEOUT);
        assert_ok(&run);
        assert_eq!(run.result.as_ref().unwrap()["result"], "binary says hi");
    }
    drop(child.stdin.take());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "closing stdin stops it"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(child.wait().unwrap().success());
}

/// (s) The Stop hook, as offload's review gate relies on it: Claude Code sends `Stop` with
/// `stop_hook_active: false` when Claude finishes; `{"decision":"block","reason":R}` makes it
/// continue, with R in its next request as a "Stop hook" message; the next `Stop` then says
/// `stop_hook_active: true`, and a silent answer lets it end. `systemMessage` is shown to the
/// user (2.1.330 and later stream it as a `system`/`informational` event, "Stop says: …"), and
/// never reaches the model. The payloads become the fixtures `stop.json` and
/// `stop-hook-active.json`.
fn stop_hook_blocks_once(version: Option<&str>) {
    let Some(claude) = require_real_claude(version) else {
        return;
    };
    let mock = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&mock.base_url());
    let log = home.root().join("stop.jsonl");
    let hook = script(
        &home,
        "stop.sh",
        &format!(
            r#"payload=$(cat)
printf '%s\n' "$payload" >> '{log}'
case "$payload" in
  *'"stop_hook_active":true'*) printf '%s\n' '{{"systemMessage":"SHOWN-SECOND"}}' ;;
  *) printf '%s\n' '{{"decision":"block","reason":"REASON-FOR-CLAUDE","systemMessage":"SHOWN-FIRST"}}' ;;
esac
"#,
            log = log.display()
        ),
    );
    let mut settings = allow_tools();
    settings["hooks"] = json!({"Stop": [{"hooks": [{"type": "command", "command": hook.display().to_string(), "timeout": 1260}]}]});
    home.settings(settings);
    mock.push(Step::text("first answer"));
    mock.push(Step::text("second answer"));
    let run = home.run_headless(&claude, &home.project(), "hello", &[], RUN_TIMEOUT);
    assert_ok(&run);

    let payloads = lines(&log);
    assert_eq!(payloads.len(), 2, "{payloads:#?}");
    let (first, second) = (parsed(&payloads[0]), parsed(&payloads[1]));
    for (v, active, last) in [
        (&first, false, "first answer"),
        (&second, true, "second answer"),
    ] {
        assert_eq!(v["hook_event_name"], "Stop", "{v}");
        assert_eq!(v["stop_hook_active"], active, "{v}");
        assert_eq!(v["last_assistant_message"], last, "{v}");
        assert_eq!(v["session_id"], run.session_id.clone().unwrap().as_str());
        assert_eq!(v["cwd"], home.project().display().to_string());
    }
    let turns = mock.turns();
    assert_eq!(turns.len(), 2, "one block, one continuation");
    let continued = serde_json::to_string(&turns[1].body["messages"]).unwrap();
    assert!(continued.contains("REASON-FOR-CLAUDE"), "{continued}");
    assert!(continued.contains("Stop hook"), "{continued}");
    assert!(
        !continued.contains("SHOWN-"),
        "systemMessage is the user's: {continued}"
    );
    let shown: Vec<&str> = run
        .events
        .iter()
        .filter(|e| e["type"] == "system" && e["subtype"] == "informational")
        .filter_map(|e| e["content"].as_str())
        .collect();
    let reported = reported_version(&run);
    let parts = |v: &str| -> Vec<u32> { v.split('.').filter_map(|p| p.parse().ok()).collect() };
    if parts(&reported) >= parts(MID) {
        assert_eq!(
            shown,
            ["Stop says: SHOWN-FIRST", "Stop says: SHOWN-SECOND"],
            "{reported}"
        );
    }
    capture(&reported, "stop.json", &payloads[0]);
    capture(&reported, "stop-hook-active.json", &payloads[1]);
}

#[test]
fn stop_hook_blocks_once_and_then_continues() {
    stop_hook_blocks_once(None);
}

#[test]
fn stop_hook_blocks_once_and_then_continues_2_1_330() {
    stop_hook_blocks_once(Some(MID));
}

#[test]
fn stop_hook_blocks_once_and_then_continues_2_1_197() {
    stop_hook_blocks_once(Some(OLD));
}
