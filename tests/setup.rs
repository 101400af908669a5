//! `offload setup` and `offload uninstall` as processes, on settings files like real users have:
//! every other key, hook and value survives, a second run changes nothing, uninstall gives back
//! the same JSON value, and a broken file is never touched. Every run has its own HOME and
//! OFFLOAD_HOME, and no `claude` but the fake one a test asks for.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{Done, Run, offload_bin, workspace_bin};

const MATCHER: &str = "Edit|Write|NotebookEdit|MultiEdit|Agent|Task|Workflow|Bash|mcp__.*";
/// The events setup registers for every Claude Code version.
const EVENTS: [&str; 5] = [
    "PreToolUse",
    "PostToolUse",
    "PostToolUseFailure",
    "SessionStart",
    "UserPromptSubmit",
];
/// The event setup registers for Claude Code 2.1.332 and later only.
const SKILL_EVENT: &str = "PreSkillShellCommand";

/// A settings file with a bit of everything: other hooks on the same events (one with our very
/// matcher), permissions, env, a statusline command with quotes, keys offload does not know,
/// nested objects. Written by hand (compact, unusual key order) like a user would.
const RICH: &str = r#"{
  "$schema": "https://json.schemastore.org/claude-code-settings.json",
  "permissions": {"allow": ["Bash(npm run test:*)", "Read(~/.zshrc)"], "deny": ["Read(./.env)"], "defaultMode": "acceptEdits"},
  "env": {"CLAUDE_CODE_ENABLE_TELEMETRY": "0", "MY_TOKEN": "abc"},
  "hooks": {
    "PreToolUse": [
      {"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/audit-bash", "timeout": 5}]},
      {"matcher": "Edit|Write|NotebookEdit|MultiEdit|Agent|Task|Bash|mcp__.*", "hooks": [{"type": "command", "command": "prettier-check"}]}
    ],
    "SessionStart": [{"matcher": "startup", "hooks": [{"type": "command", "command": "echo welcome"}]}],
    "Stop": [{"hooks": [{"type": "command", "command": "notify-send 'Claude is done'"}]}]
  },
  "statusLine": {"type": "command", "command": "printf '%s\\n' \"theirs: it's $((1+1))\"", "padding": 2, "refreshInterval": 10},
  "enabledPlugins": {"formatter@tools": true},
  "futureFeature": {"nested": {"deeper": [1, {"k": null}, "s"]}, "flag": false},
  "cleanupPeriodDays": 30
}
"#;

/// The user's statusline command in [`RICH`].
const THEIR_STATUSLINE: &str = "printf '%s\\n' \"theirs: it's $((1+1))\"";

/// One isolated machine: HOME, OFFLOAD_HOME, a project folder, and a folder for a fake claude.
struct Machine {
    dir: tempfile::TempDir,
    /// `OFFLOAD_CLAUDE_BIN` for the runs; `None`: no claude anywhere.
    claude: Option<PathBuf>,
}

impl Machine {
    fn new() -> Machine {
        // Setup wires the siblings of the running offload (target/debug): build them first.
        workspace_bin("offload-hook");
        let dir = tempfile::tempdir().unwrap();
        for sub in ["home/.claude", "state", "project", "bin", "empty"] {
            fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        Machine { dir, claude: None }
    }

    /// With a fake `claude` whose `--version` prints `<version> (Claude Code)`.
    fn with_claude(mut self, version: &str) -> Machine {
        let path = self.dir.path().join("bin/claude");
        fs::write(
            &path,
            format!("#!/bin/sh\necho '{version} (Claude Code)'\n"),
        )
        .unwrap();
        fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        self.claude = Some(path);
        self
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }
    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }
    fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }
    fn settings_path(&self) -> PathBuf {
        self.home().join(".claude/settings.json")
    }
    fn skill_dir(&self) -> PathBuf {
        self.home().join(".claude/skills/plan-and-execute")
    }

    /// `offload <args>` with this machine's HOME and OFFLOAD_HOME, in the project folder, with
    /// a PATH that holds no claude.
    fn offload(&self, args: &[&str]) -> Done {
        self.run(args).output()
    }

    /// [`Machine::offload`] with stdout a pipe nobody reads any more (`| head -1`).
    fn offload_into_closed_pipe(&self, args: &[&str]) -> Done {
        self.run(args).closed_stdout().output()
    }

    /// [`Machine::offload`] with more environment.
    fn offload_with(&self, args: &[&str], envs: &[(&str, &std::ffi::OsStr)]) -> Done {
        let mut run = self.run(args);
        for (k, v) in envs {
            run = run.env(k, v);
        }
        run.output()
    }

    fn run(&self, args: &[&str]) -> Run {
        let claude = self
            .claude
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Run::new(offload_bin())
            .args(args)
            .env("HOME", self.home())
            .env("OFFLOAD_HOME", self.state())
            .env("OFFLOAD_CLAUDE_BIN", claude)
            .env("OFFLOAD_BIN_DIR", "")
            .env("PATH", self.dir.path().join("empty"))
            .current_dir(self.project())
    }

    fn write_settings(&self, text: &str) {
        fs::write(self.settings_path(), text).unwrap();
    }

    fn settings(&self) -> Value {
        read_json(&self.settings_path())
    }

    /// Backups next to the settings file.
    fn backups(&self) -> Vec<PathBuf> {
        backups_in(&self.home().join(".claude"))
    }
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

fn backups_in(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains(".offload-backup"))
        .collect();
    found.sort();
    found
}

fn bin(name: &str) -> String {
    offload_bin().with_file_name(name).display().to_string()
}

/// Our hook entry, as setup writes it.
fn our_entry(on_failure: bool) -> Value {
    let mut e = json!({"type": "command", "command": bin("offload-hook"), "timeout": 10});
    if on_failure {
        e["onFailure"] = json!("block");
    }
    e
}

fn on_failure_values(settings: &Value) -> Vec<Value> {
    EVENTS
        .iter()
        .flat_map(|ev| {
            settings["hooks"][ev]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|g| g["hooks"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["command"] == bin("offload-hook"))
        .map(|e| e.get("onFailure").cloned().unwrap_or(Value::Null))
        .collect()
}

#[test]
fn setup_merges_into_rich_settings_keeping_everything_else() {
    let m = Machine::new().with_claude("2.1.330");
    m.write_settings(RICH);
    let original: Value = serde_json::from_str(RICH).unwrap();

    let out = m.offload(&["setup"]).expect_code(0);
    let s = m.settings();

    for key in [
        "$schema",
        "permissions",
        "env",
        "enabledPlugins",
        "futureFeature",
        "cleanupPeriodDays",
    ] {
        assert_eq!(s[key], original[key], "{key} kept as it was");
    }
    assert_eq!(s["hooks"]["Stop"], original["hooks"]["Stop"]);
    let pre = s["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(
        pre[..2],
        original["hooks"]["PreToolUse"].as_array().unwrap()[..],
        "their PreToolUse groups, untouched and first"
    );
    assert_eq!(
        pre[2],
        json!({"matcher": MATCHER, "hooks": [our_entry(true)]})
    );
    assert_eq!(pre.len(), 3);
    assert_eq!(
        s["hooks"]["SessionStart"],
        json!([original["hooks"]["SessionStart"][0], {"hooks": [our_entry(true)]}])
    );
    assert_eq!(
        s["hooks"]["UserPromptSubmit"],
        json!([{"hooks": [our_entry(true)]}])
    );
    for event in ["PostToolUse", "PostToolUseFailure"] {
        assert_eq!(
            s["hooks"][event],
            json!([{"matcher": "Bash", "hooks": [our_entry(true)]}]),
            "{event}"
        );
    }
    assert!(s["hooks"].get(SKILL_EVENT).is_none(), "not for 2.1.330");
    let status = &s["statusLine"];
    assert_eq!(status["padding"], 2, "their statusLine keys are kept");
    assert_eq!(status["refreshInterval"], 10);
    assert_eq!(status["type"], "command");
    assert_eq!(
        status["command"],
        format!(
            "{} --wrap 'printf '\\''%s\\n'\\'' \"theirs: it'\\''s $((1+1))\"'",
            bin("offload-statusline")
        )
    );

    // The file keeps its key order; the backup is the original, byte for byte.
    let text = fs::read_to_string(m.settings_path()).unwrap();
    let order: Vec<usize> = [
        "\"$schema\"",
        "\"permissions\"",
        "\"env\"",
        "\"hooks\"",
        "\"statusLine\"",
        "\"enabledPlugins\"",
        "\"futureFeature\"",
        "\"cleanupPeriodDays\"",
    ]
    .iter()
    .map(|k| text.find(k).unwrap())
    .collect();
    assert!(order.is_sorted(), "key order kept:\n{text}");
    let backups = m.backups();
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(fs::read_to_string(&backups[0]).unwrap(), RICH);

    let stdout = out.stdout();
    assert!(stdout.contains("hooks.PreToolUse"), "{stdout}");
    assert!(
        stdout.contains(&backups[0].display().to_string()),
        "{stdout}"
    );
    assert!(stdout.contains("Next:"), "{stdout}");
    assert!(stdout.contains("offload uninstall"), "{stdout}");
}

#[test]
fn setup_twice_changes_nothing_and_uninstall_gives_back_the_same_value() {
    let m = Machine::new().with_claude("2.1.330");
    m.write_settings(RICH);
    let original: Value = serde_json::from_str(RICH).unwrap();

    m.offload(&["setup"]).expect_code(0);
    let after_first = fs::read(m.settings_path()).unwrap();
    let backups = m.backups();

    let second = m.offload(&["setup"]).expect_code(0);
    assert!(
        second.stdout().contains("already set up"),
        "{}",
        second.stdout()
    );
    assert_eq!(fs::read(m.settings_path()).unwrap(), after_first);
    assert_eq!(m.backups(), backups, "no second backup");

    let un = m.offload(&["uninstall"]).expect_code(0);
    assert_eq!(m.settings(), original, "{}", un.stdout());
    assert!(un.stdout().contains("restored yours"), "{}", un.stdout());
    assert!(!m.skill_dir().exists());
    assert!(
        !m.state().join("setup.json").exists(),
        "the record is gone with the setup"
    );

    let again = m.offload(&["uninstall"]).expect_code(0);
    assert!(
        again.stdout().contains("nothing to remove"),
        "{}",
        again.stdout()
    );
    assert_eq!(m.settings(), original);
}

#[test]
fn uninstall_keeps_the_users_edits_made_after_setup() {
    let m = Machine::new().with_claude("2.1.330");
    m.write_settings(RICH);
    m.offload(&["setup"]).expect_code(0);

    let mut edited = m.settings();
    edited["permissions"]["allow"]
        .as_array_mut()
        .unwrap()
        .push(json!("Edit"));
    edited["model"] = json!("opus");
    edited["hooks"]["PostToolUse"] =
        json!([{"matcher": "Write", "hooks": [{"type": "command", "command": "fmt"}]}]);
    edited["hooks"]["UserPromptSubmit"][0]["hooks"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "command", "command": "log-prompt"}));
    edited["statusLine"]["refreshInterval"] = json!(3);
    m.write_settings(&serde_json::to_string_pretty(&edited).unwrap());

    m.offload(&["uninstall"]).expect_code(0);

    let mut expected: Value = serde_json::from_str(RICH).unwrap();
    expected["permissions"]["allow"]
        .as_array_mut()
        .unwrap()
        .push(json!("Edit"));
    expected["model"] = json!("opus");
    expected["hooks"]["PostToolUse"] = edited["hooks"]["PostToolUse"].clone();
    expected["hooks"]["UserPromptSubmit"] =
        json!([{"hooks": [{"type": "command", "command": "log-prompt"}]}]);
    expected["statusLine"]["refreshInterval"] = json!(3);
    assert_eq!(m.settings(), expected);
}

#[test]
fn a_corrupt_settings_file_is_reported_and_never_touched() {
    let m = Machine::new().with_claude("2.1.330");
    let corrupt = "{\n  \"permissions\": {\"allow\": [\"Read\"]},\n  \"hooks\": {\n}\n";
    m.write_settings(corrupt);
    for args in [&["setup"][..], &["setup", "--dry-run"], &["uninstall"]] {
        let out = m.offload(args).expect_code(1);
        let err = out.stderr();
        assert!(
            err.contains(&m.settings_path().display().to_string()),
            "names the file: {err}"
        );
        assert!(err.contains("not valid JSON"), "{err}");
        assert!(err.contains("line"), "says where: {err}");
        assert!(err.contains("Nothing was changed"), "{err}");
        assert!(err.contains("Fix the file"), "says what to do: {err}");
        assert_eq!(fs::read_to_string(m.settings_path()).unwrap(), corrupt);
        assert!(m.backups().is_empty());
        assert!(!m.skill_dir().exists());
    }
    // A shape setup cannot merge into is refused the same way.
    m.write_settings("{\"hooks\": []}");
    let out = m.offload(&["setup"]).expect_code(1);
    assert!(
        out.stderr().contains("`hooks` is an array"),
        "{}",
        out.stderr()
    );
    assert_eq!(
        fs::read_to_string(m.settings_path()).unwrap(),
        "{\"hooks\": []}"
    );
}

#[test]
fn project_scope_writes_the_projects_settings_and_skill() {
    let m = Machine::new().with_claude("2.1.330");
    m.write_settings(RICH);
    let project_settings = m.project().join(".claude/settings.json");

    let out = m.offload(&["setup", "--project"]).expect_code(0);
    assert!(out.stdout().contains("(project)"), "{}", out.stdout());
    let s = read_json(&project_settings);
    assert_eq!(
        s["hooks"]["PreToolUse"],
        json!([{"matcher": MATCHER, "hooks": [our_entry(true)]}])
    );
    assert_eq!(
        s["statusLine"],
        json!({"type": "command", "command": bin("offload-statusline"), "padding": 0, "refreshInterval": 10})
    );
    assert!(
        m.project()
            .join(".claude/skills/plan-and-execute/SKILL.md")
            .is_file()
    );
    assert_eq!(
        fs::read_to_string(m.settings_path()).unwrap(),
        RICH,
        "the user's own settings are not touched"
    );
    assert!(!m.skill_dir().exists());

    // The project had no .claude at all: uninstall leaves none.
    m.offload(&["uninstall", "--project"]).expect_code(0);
    assert!(
        !m.project().join(".claude").exists(),
        "{:?}",
        fs::read_dir(m.project().join(".claude"))
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
    );
    assert_eq!(fs::read_to_string(m.settings_path()).unwrap(), RICH);
}

#[test]
fn dry_run_prints_the_change_and_writes_nothing() {
    let m = Machine::new().with_claude("2.1.330");
    m.write_settings(RICH);

    let out = m.offload(&["setup", "--dry-run"]).expect_code(0);
    let stdout = out.stdout();
    assert!(stdout.contains("nothing is written"), "{stdout}");
    assert!(stdout.contains("(after setup)"), "{stdout}");
    assert!(
        stdout.contains(&format!(
            "+            \"command\": \"{}\",",
            bin("offload-hook")
        )),
        "{stdout}"
    );
    assert!(
        stdout.contains("-    \"command\": \"printf"),
        "the old statusline command is shown as removed: {stdout}"
    );
    assert!(stdout.contains("would write"), "{stdout}");
    assert_eq!(fs::read_to_string(m.settings_path()).unwrap(), RICH);
    assert!(m.backups().is_empty());
    assert!(!m.skill_dir().exists());
    assert!(
        fs::read_dir(m.state()).unwrap().next().is_none(),
        "no record"
    );

    // Uninstall's dry run after a real setup: shows the way back, changes nothing.
    m.offload(&["setup"]).expect_code(0);
    let before = fs::read(m.settings_path()).unwrap();
    let backups = m.backups();
    let out = m.offload(&["uninstall", "--dry-run"]).expect_code(0);
    assert!(
        out.stdout().contains("(after uninstall)"),
        "{}",
        out.stdout()
    );
    assert!(out.stdout().contains("would remove"), "{}", out.stdout());
    assert_eq!(fs::read(m.settings_path()).unwrap(), before);
    assert_eq!(m.backups(), backups);
    assert!(m.skill_dir().join("SKILL.md").is_file());
}

#[test]
fn on_failure_block_only_for_claude_code_2_1_295_and_later() {
    for (claude, expected) in [
        (Some("2.1.330"), json!("block")),
        (Some("2.1.197"), Value::Null),
        (None, Value::Null),
    ] {
        let mut m = Machine::new();
        if let Some(v) = claude {
            m = m.with_claude(v);
        }
        let out = m.offload(&["setup"]).expect_code(0);
        let values = on_failure_values(&m.settings());
        assert_eq!(
            values,
            vec![expected.clone(); EVENTS.len()],
            "claude {claude:?}"
        );
        let stdout = out.stdout();
        match claude {
            Some("2.1.330") => assert!(stdout.contains("Claude Code 2.1.330"), "{stdout}"),
            Some(v) => assert!(
                stdout.contains(v) && stdout.contains("older than 2.1.295"),
                "{stdout}"
            ),
            None => assert!(stdout.contains("Claude Code not found"), "{stdout}"),
        }
    }

    // Claude Code upgraded: a re-run adds onFailure in place; nothing else moves.
    let m = Machine::new().with_claude("2.1.197");
    m.write_settings(RICH);
    m.offload(&["setup"]).expect_code(0);
    let old = m.settings();
    let m = Machine { claude: None, ..m }.with_claude("2.1.330");
    let out = m.offload(&["setup"]).expect_code(0);
    assert!(out.stdout().contains("updated"), "{}", out.stdout());
    let new = m.settings();
    assert_eq!(on_failure_values(&new), vec![json!("block"); EVENTS.len()]);
    assert_eq!(
        new["hooks"]["PreToolUse"].as_array().unwrap()[..2],
        old["hooks"]["PreToolUse"].as_array().unwrap()[..2]
    );
    assert_eq!(new["statusLine"], old["statusLine"]);
    m.offload(&["uninstall"]).expect_code(0);
    assert_eq!(m.settings(), serde_json::from_str::<Value>(RICH).unwrap());
}

#[test]
fn the_skill_shell_hook_only_for_claude_code_2_1_332_and_later() {
    let ours = json!([{"hooks": [our_entry(true)]}]);
    for (claude, wired, says) in [
        (
            Some("2.1.332"),
            true,
            "checks the shell commands skills run inline",
        ),
        (
            Some("2.1.400"),
            true,
            "checks the shell commands skills run inline",
        ),
        (
            Some("2.1.330"),
            false,
            "\"disableSkillShellExecution\": true",
        ),
        (
            Some("2.1.197"),
            false,
            "\"disableSkillShellExecution\": true",
        ),
        (None, false, "the version is unknown"),
    ] {
        let mut m = Machine::new();
        if let Some(v) = claude {
            m = m.with_claude(v);
        }
        m.write_settings(RICH);
        let out = m.offload(&["setup"]).expect_code(0);
        let s = m.settings();
        if wired {
            assert_eq!(s["hooks"][SKILL_EVENT], ours, "claude {claude:?}");
            assert!(
                out.stdout().contains("hooks.PreSkillShellCommand: added"),
                "{}",
                out.stdout()
            );
        } else {
            assert!(s["hooks"].get(SKILL_EVENT).is_none(), "claude {claude:?}");
        }
        assert!(out.stdout().contains(says), "{}", out.stdout());
        m.offload(&["setup"]).expect_code(0);
        assert_eq!(m.settings(), s, "a second run changes nothing");
        m.offload(&["uninstall"]).expect_code(0);
        assert_eq!(m.settings(), serde_json::from_str::<Value>(RICH).unwrap());
    }

    // Upgraded to 2.1.332: a re-run adds it; uninstall still gives back the original.
    let m = Machine::new().with_claude("2.1.330");
    m.write_settings(RICH);
    m.offload(&["setup"]).expect_code(0);
    let m = Machine { claude: None, ..m }.with_claude("2.1.332");
    m.offload(&["setup"]).expect_code(0);
    assert_eq!(m.settings()["hooks"][SKILL_EVENT], ours);
    // Version unknown on a re-run: it stays.
    let m = Machine { claude: None, ..m };
    m.offload(&["setup"]).expect_code(0);
    assert_eq!(m.settings()["hooks"][SKILL_EVENT], ours);
    m.offload(&["uninstall"]).expect_code(0);
    assert_eq!(m.settings(), serde_json::from_str::<Value>(RICH).unwrap());

    // Back to 2.1.330: a re-run takes it out again, and the array setup created with it.
    let m = Machine::new().with_claude("2.1.332");
    m.write_settings(RICH);
    m.offload(&["setup"]).expect_code(0);
    let m = Machine { claude: None, ..m }.with_claude("2.1.330");
    let out = m.offload(&["setup"]).expect_code(0);
    assert!(
        out.stdout()
            .contains("hooks.PreSkillShellCommand: removed offload-hook"),
        "{}",
        out.stdout()
    );
    assert!(m.settings()["hooks"].get(SKILL_EVENT).is_none());
    m.offload(&["uninstall"]).expect_code(0);
    assert_eq!(m.settings(), serde_json::from_str::<Value>(RICH).unwrap());

    // A hook of the user's on that event is theirs: uninstall leaves it and only it.
    let m = Machine::new().with_claude("2.1.332");
    let mut theirs: Value = serde_json::from_str(RICH).unwrap();
    theirs["hooks"][SKILL_EVENT] =
        json!([{"matcher": "Bash", "hooks": [{"type": "command", "command": "audit-skill"}]}]);
    m.write_settings(&serde_json::to_string_pretty(&theirs).unwrap());
    m.offload(&["setup"]).expect_code(0);
    assert_eq!(
        m.settings()["hooks"][SKILL_EVENT],
        json!([theirs["hooks"][SKILL_EVENT][0], {"hooks": [our_entry(true)]}])
    );
    m.offload(&["uninstall"]).expect_code(0);
    assert_eq!(m.settings(), theirs);
}

#[test]
fn the_wrapped_statusline_shows_both_lines_and_uninstall_restores_it() {
    let m = Machine::new().with_claude("2.1.330");
    m.write_settings(RICH);
    m.offload(&["setup"]).expect_code(0);

    // Claude Code runs the statusLine command through a shell: do the same.
    let command = m.settings()["statusLine"]["command"]
        .as_str()
        .unwrap()
        .to_string();
    let out = Run::new("/bin/sh")
        .args(["-c", &command])
        .env("OFFLOAD_HOME", m.state())
        .env("NO_COLOR", "1")
        .stdin(r#"{"session_id":"s1","model":{"display_name":"Opus"}}"#)
        .output()
        .expect_code(0);
    let lines: Vec<&str> = out
        .0
        .stdout
        .split(|b| *b == b'\n')
        .map(|l| std::str::from_utf8(l).unwrap())
        .collect();
    assert!(lines[0].starts_with("Offload "), "{lines:?}");
    assert_eq!(
        lines[1], "theirs: it's 2",
        "their command ran as they wrote it"
    );

    m.offload(&["uninstall"]).expect_code(0);
    assert_eq!(
        m.settings()["statusLine"],
        json!({"type": "command", "command": THEIR_STATUSLINE, "padding": 2, "refreshInterval": 10})
    );
}

#[test]
fn without_a_statusline_ours_is_set_and_uninstall_removes_it() {
    let m = Machine::new().with_claude("2.1.330");
    m.write_settings("{\"model\": \"opus\"}\n");
    m.offload(&["setup"]).expect_code(0);
    assert_eq!(
        m.settings()["statusLine"],
        json!({"type": "command", "command": bin("offload-statusline"), "padding": 0, "refreshInterval": 10})
    );
    m.offload(&["uninstall"]).expect_code(0);
    assert_eq!(m.settings(), json!({"model": "opus"}));
}

#[test]
fn a_settings_file_setup_created_is_removed_again() {
    let m = Machine::new().with_claude("2.1.330");
    m.offload(&["setup"]).expect_code(0);
    assert!(m.settings_path().is_file());
    assert!(m.backups().is_empty(), "nothing to back up");
    m.offload(&["uninstall"]).expect_code(0);
    assert!(!m.settings_path().exists());
    assert!(
        m.home().join(".claude").is_dir(),
        "a folder that was there stays"
    );
}

#[test]
fn skill_files_are_installed_and_only_ours_removed() {
    let m = Machine::new().with_claude("2.1.330");
    let repo = support::repo_root().join("skills/plan-and-execute");
    let out = m.offload(&["setup"]).expect_code(0);
    let skill = m.skill_dir().join("SKILL.md");
    let runner = m.skill_dir().join("codex-runner.sh");
    assert_eq!(
        fs::read(&skill).unwrap(),
        fs::read(repo.join("SKILL.md")).unwrap()
    );
    assert_eq!(
        fs::read(&runner).unwrap(),
        fs::read(repo.join("codex-runner.sh")).unwrap()
    );
    let mode = |p: &Path| {
        std::os::unix::fs::PermissionsExt::mode(&fs::metadata(p).unwrap().permissions()) & 0o777
    };
    assert_eq!(mode(&runner), 0o755);
    assert!(out.stdout().contains("skill: wrote"), "{}", out.stdout());

    // A file of the user's in the skill folder stays, and so does the folder.
    let theirs = m.skill_dir().join("notes.md");
    fs::write(&theirs, "mine").unwrap();
    m.offload(&["uninstall"]).expect_code(0);
    assert!(!skill.exists() && !runner.exists());
    assert_eq!(fs::read_to_string(&theirs).unwrap(), "mine");
}

#[test]
fn a_skill_file_the_user_had_is_kept_aside_and_restored() {
    let m = Machine::new().with_claude("2.1.330");
    fs::create_dir_all(m.skill_dir()).unwrap();
    let skill = m.skill_dir().join("SKILL.md");
    fs::write(&skill, "my own plan-and-execute skill\n").unwrap();

    let out = m.offload(&["setup"]).expect_code(0);
    assert!(out.stdout().contains("kept your"), "{}", out.stdout());
    assert_ne!(
        fs::read_to_string(&skill).unwrap(),
        "my own plan-and-execute skill\n"
    );
    m.offload(&["setup"]).expect_code(0);

    m.offload(&["uninstall"]).expect_code(0);
    assert_eq!(
        fs::read_to_string(&skill).unwrap(),
        "my own plan-and-execute skill\n"
    );
    assert!(!m.skill_dir().join("codex-runner.sh").exists());
}

#[test]
fn a_skill_file_changed_after_setup_is_left_in_place() {
    let m = Machine::new().with_claude("2.1.330");
    m.offload(&["setup"]).expect_code(0);
    let skill = m.skill_dir().join("SKILL.md");
    fs::write(&skill, "edited by the user\n").unwrap();
    let out = m.offload(&["uninstall"]).expect_code(0);
    assert!(
        out.stdout().contains("changed since setup"),
        "{}",
        out.stdout()
    );
    assert_eq!(fs::read_to_string(&skill).unwrap(), "edited by the user\n");
}

#[test]
fn setup_refuses_without_the_sibling_binaries() {
    let m = Machine::new().with_claude("2.1.330");
    m.write_settings(RICH);
    let out = Run::new(offload_bin())
        .arg("setup")
        .env("HOME", m.home())
        .env("OFFLOAD_HOME", m.state())
        .env("OFFLOAD_CLAUDE_BIN", m.claude.as_ref().unwrap())
        .env("OFFLOAD_BIN_DIR", m.dir.path().join("empty"))
        .output()
        .expect_code(1);
    assert!(
        out.stderr().contains("offload-hook is not installed"),
        "{}",
        out.stderr()
    );
    assert!(out.stderr().contains("install.sh"), "{}", out.stderr());
    assert_eq!(fs::read_to_string(m.settings_path()).unwrap(), RICH);
}

#[test]
fn setup_and_uninstall_refuse_inside_claude_code() {
    let m = Machine::new().with_claude("2.1.330");
    m.offload(&["setup"]).expect_code(0);
    let before = fs::read(m.settings_path()).unwrap();
    // Claude Code's variable with any value, offload's session variable, or a cleaned
    // environment under a shell that has them.
    for (cmd, var, value) in [
        ("uninstall", "CLAUDECODE", "1"),
        ("uninstall", "CLAUDECODE", "0"),
        ("uninstall --project", "OFFLOAD_SESSION_ID", "s1"),
        ("setup", "CLAUDECODE", "1"),
        ("setup --project", "CLAUDE_CODE_SESSION_ID", "s1"),
        ("setup --code-model gpt-6.2-sol", "CLAUDECODE", "1"),
    ] {
        let out = Run::new("bash")
            .args([
                "-c",
                &format!("env -u {var} {} {cmd}; exit $?", offload_bin().display()),
            ])
            .env("HOME", m.home())
            .env("OFFLOAD_HOME", m.state())
            .env(var, value)
            .current_dir(m.home())
            .output()
            .expect_code(1);
        assert!(
            out.stderr().contains("your own terminal") && out.stderr().contains(var),
            "{cmd} with {var}={value}: {}",
            out.stderr()
        );
        assert_eq!(fs::read(m.settings_path()).unwrap(), before);
    }
    assert!(!m.state().join("config.json").exists(), "no model switched");
}

#[test]
fn a_symlinked_settings_file_stays_a_symlink() {
    let m = Machine::new().with_claude("2.1.330");
    let target = m.dir.path().join("dotfiles-settings.json");
    fs::write(&target, RICH).unwrap();
    std::os::unix::fs::symlink(&target, m.settings_path()).unwrap();
    m.offload(&["setup"]).expect_code(0);
    assert!(
        fs::symlink_metadata(m.settings_path())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(read_json(&target)["hooks"]["UserPromptSubmit"].is_array());
    m.offload(&["uninstall"]).expect_code(0);
    assert!(
        fs::symlink_metadata(m.settings_path())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        read_json(&target),
        serde_json::from_str::<Value>(RICH).unwrap()
    );
}

#[test]
fn managed_setup_writes_and_removes_only_its_own_drop_in() {
    let m = Machine::new().with_claude("2.1.330");
    let managed = m.dir.path().join("managed");
    let dropin = managed.join("managed-settings.d/50-offload.json");
    let run = |args: &[&str]| {
        Run::new(offload_bin())
            .args(args)
            .env("HOME", m.home())
            .env("OFFLOAD_HOME", m.state())
            .env("OFFLOAD_MANAGED_DIR", &managed)
            .output()
    };
    let out = run(&["setup", "--managed", "--managed-only"]).expect_code(0);
    assert!(
        out.stdout().contains("allowManagedHooksOnly"),
        "{}",
        out.stdout()
    );
    let v: Value = serde_json::from_str(&fs::read_to_string(&dropin).unwrap()).unwrap();
    assert_eq!(v["allowManagedHooksOnly"], true);
    assert_eq!(v["hooks"]["PreToolUse"][0]["matcher"], MATCHER);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&dropin).unwrap().permissions().mode() & 0o777,
        0o644,
        "every user's Claude Code reads it"
    );
    assert!(
        !m.settings_path().exists(),
        "the user's settings are not touched"
    );
    let out = run(&["setup", "--managed", "--managed-only"]).expect_code(0);
    assert!(out.stdout().contains("nothing changed"), "{}", out.stdout());
    run(&["uninstall", "--managed"]).expect_code(0);
    assert!(!dropin.exists());
    // A file there that is not offload's is never replaced or removed.
    fs::write(&dropin, "{\"env\": {\"X\": \"1\"}}").unwrap();
    let out = run(&["setup", "--managed"]).expect_code(1);
    assert!(out.stderr().contains("not offload's"), "{}", out.stderr());
    run(&["uninstall", "--managed"]).expect_code(1);
    assert_eq!(
        fs::read_to_string(&dropin).unwrap(),
        "{\"env\": {\"X\": \"1\"}}"
    );
    // --managed-only needs --managed.
    run(&["setup", "--managed-only"]).expect_code(2);
}

/// `offload setup | head -1` and `offload uninstall | head -1`: the reader goes away after
/// one line, so every later write to stdout fails (EPIPE). Each command still finishes its
/// change, never panics, and leaves a state the next command reads as consistent: uninstall
/// gives back the user's settings and removes the skill and setup's record, so a second
/// uninstall has nothing to do.
#[test]
fn setup_and_uninstall_into_a_closed_pipe_finish_their_change() {
    let m = Machine::new().with_claude("2.1.332");
    m.write_settings(RICH);
    let original: Value = serde_json::from_str(RICH).unwrap();

    let setup = m.offload_into_closed_pipe(&["setup"]).expect_code(0);
    assert!(!setup.stderr().contains("panicked"), "{}", setup.stderr());
    assert_eq!(
        m.settings()["hooks"]["PreToolUse"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g.to_string().contains("offload-hook"))
            .count(),
        1,
        "setup wired the hook"
    );
    assert!(
        m.skill_dir().join("plan-format.md").is_file(),
        "the skill is whole"
    );
    m.offload(&["setup"])
        .expect_code(0)
        .stdout()
        .contains("nothing changed")
        .then_some(())
        .expect("a second setup finds it set up");

    let un = m.offload_into_closed_pipe(&["uninstall"]).expect_code(0);
    assert!(!un.stderr().contains("panicked"), "{}", un.stderr());
    assert_eq!(m.settings(), original, "settings given back");
    assert!(!m.skill_dir().exists(), "skill removed");
    let again = m.offload(&["uninstall"]).expect_code(0);
    assert!(
        again.stdout().contains("nothing to remove"),
        "{}",
        again.stdout()
    );
    assert!(
        !again.stdout().contains("changed since setup"),
        "{}",
        again.stdout()
    );
}

/// Every read-only command into a closed pipe: no panic, its usual exit code.
#[test]
fn reports_into_a_closed_pipe_stop_quietly() {
    let m = Machine::new().with_claude("2.1.332");
    for (args, code) in [
        (&["--help"][..], 0),
        (&["stats"][..], 0),
        (&["stats", "--json"][..], 0),
        (&["plan", "format"][..], 0),
        (&["setup", "--dry-run"][..], 0),
        (&["doctor"][..], 1),
    ] {
        let done = m.offload_into_closed_pipe(args);
        assert!(
            !done.stderr().contains("panicked") && !done.stderr().contains("Broken pipe"),
            "{args:?}: {}",
            done.stderr()
        );
        assert_eq!(done.code(), code, "{args:?}: {}", done.stderr());
    }
}

/// Uninstall says what it keeps (the backups of the settings file, offload's records) and the
/// command that removes each.
#[test]
fn uninstall_names_what_it_keeps() {
    let m = Machine::new().with_claude("2.1.332");
    m.write_settings(RICH);
    m.offload(&["setup"]).expect_code(0);
    fs::write(m.state().join("events.jsonl"), "").unwrap();
    let out = m.offload(&["uninstall"]).expect_code(0).stdout();
    let backups = m.backups();
    assert_eq!(backups.len(), 2, "one from setup, one from uninstall");
    assert!(out.contains("Kept (nothing of yours is deleted):"), "{out}");
    assert!(
        out.contains(&format!(
            "2 backups of {}: remove with `rm {}.offload-backup-*`",
            m.settings_path().display(),
            m.settings_path().display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("remove with `rm -rf {}`", m.state().display())),
        "{out}"
    );
}

/// offload-hook entries under `hooks[event]`.
fn hooks_of_ours(settings: &Value, event: &str) -> usize {
    settings["hooks"][event]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["hooks"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["command"] == bin("offload-hook"))
        .count()
}

/// With the offload plugin enabled, setup wires only what the plugin cannot (the statusline,
/// PreSkillShellCommand on 2.1.332), installs no second skill, and a setup made before the
/// plugin was enabled is narrowed to that on the next run: each event ends with one
/// offload-hook, the plugin's.
#[test]
fn with_the_plugin_enabled_setup_wires_only_what_the_plugin_cannot() {
    let m = Machine::new().with_claude("2.1.332");
    let mut rich: Value = serde_json::from_str(RICH).unwrap();
    // Setup first, the plugin after (the README's old order).
    m.write_settings(RICH);
    m.offload(&["setup"]).expect_code(0);
    assert!(m.skill_dir().join("SKILL.md").is_file());
    let mut now = m.settings();
    now["enabledPlugins"]["offload@offload"] = json!(true);
    fs::write(
        m.settings_path(),
        serde_json::to_string_pretty(&now).unwrap(),
    )
    .unwrap();
    let out = m.offload(&["setup"]).expect_code(0).stdout();
    assert!(
        out.contains("plugin offload@offload (enabled in")
            && out.contains("hooks.PreToolUse: removed offload-hook (plugin offload@offload"),
        "{out}"
    );
    let s = m.settings();
    for event in EVENTS {
        assert_eq!(
            hooks_of_ours(&s, event),
            0,
            "{event}: the plugin runs it\n{s:#}"
        );
    }
    assert_eq!(
        hooks_of_ours(&s, SKILL_EVENT),
        1,
        "the plugin cannot register it"
    );
    assert!(
        s["statusLine"]["command"]
            .as_str()
            .unwrap()
            .starts_with(&bin("offload-statusline")),
        "{s:#}"
    );
    assert!(!m.skill_dir().exists(), "the plugin brings the skill");
    // The user's own hooks stay, and a second run changes nothing.
    assert_eq!(s["hooks"]["Stop"], rich["hooks"]["Stop"]);
    assert!(
        m.offload(&["setup"])
            .expect_code(0)
            .stdout()
            .contains("nothing changed")
    );
    // Uninstall gives back the settings as they were before setup, plus the plugin the user
    // enabled, and says that the plugin still guards.
    let out = m.offload(&["uninstall"]).expect_code(0).stdout();
    assert!(
        out.contains("plugin offload@offload (enabled in")
            && out.contains("still runs offload's guard"),
        "{out}"
    );
    rich["enabledPlugins"]["offload@offload"] = json!(true);
    assert_eq!(m.settings(), rich);
}

/// `--statusline-only` before the plugin is installed: the same narrowed wiring.
#[test]
fn statusline_only_wires_the_statusline_and_the_skill_shell_hook() {
    let m = Machine::new().with_claude("2.1.332");
    let out = m
        .offload(&["setup", "--statusline-only"])
        .expect_code(0)
        .stdout();
    assert!(out.contains("setup adds only what a plugin"), "{out}");
    assert!(
        out.contains("nothing is guarded yet")
            && out.contains("claude plugin install offload@offload"),
        "no plugin yet: say how to get the guard: {out}"
    );
    assert!(!out.contains("edits of code files are then held"), "{out}");
    let s = m.settings();
    for event in EVENTS {
        assert_eq!(hooks_of_ours(&s, event), 0, "{event}\n{s:#}");
    }
    assert_eq!(hooks_of_ours(&s, SKILL_EVENT), 1);
    assert!(s["statusLine"]["command"].is_string());
    assert!(!m.skill_dir().exists());
    // A project setup sees the plugin the user enabled in their own settings.
    let mut user = m.settings();
    user["enabledPlugins"] = json!({"offload@offload": true});
    fs::write(m.settings_path(), user.to_string()).unwrap();
    m.offload(&["setup", "--project"]).expect_code(0);
    let project = read_json(&m.project().join(".claude/settings.json"));
    for event in EVENTS {
        assert_eq!(hooks_of_ours(&project, event), 0, "{event}\n{project:#}");
    }
}

// ---------------------------------------------------------------------------------------------
// offload setup --code-model M --logic-model M

/// A config written by hand: every section, a key offload does not know, unusual key order.
const USER_CONFIG: &str = r#"{
  "statusline": {"weekly": true},
  "runner": {"timeout": "20m", "effort": "high"},
  "guard": {"mode": "warn", "approval_phrase": "go on"},
  "later": {"x": [1, 2]}
}
"#;

impl Machine {
    fn config_path(&self) -> PathBuf {
        self.state().join("config.json")
    }

    /// `offload setup <args>` with the fake codex, whose catalog is Codex CLI 0.171.0's.
    fn switch(&self, args: &[&str]) -> Done {
        let mut full = vec!["setup"];
        full.extend_from_slice(args);
        let catalog =
            support::repo_root().join("shared/tests/fixtures/codex/debug-models-bundled.json");
        self.offload_with(
            &full,
            &[
                ("CODEX_BIN", support::fake_codex().as_os_str()),
                ("FAKE_CODEX_CATALOG", catalog.as_os_str()),
                ("CODEX_HOME", self.dir.path().join("empty").as_os_str()),
            ],
        )
    }
}

#[test]
fn setup_switches_the_models_in_one_command_and_keeps_the_rest_of_the_config() {
    let m = Machine::new();
    fs::write(m.config_path(), USER_CONFIG).unwrap();
    let out = m
        .switch(&[
            "--code-model",
            "gpt-6.2-sol",
            "--logic-model",
            "gpt-6.2-astra",
        ])
        .expect_code(0);
    assert_eq!(out.stderr(), "", "both are in codex's catalog");
    let stdout = out.stdout();
    for line in [
        "  runner.model_code: gpt-5.3-codex → gpt-6.2-sol",
        "  runner.model_logic: gpt-5.4 → gpt-6.2-astra",
        "  runner.model: gpt-5.4 → gpt-6.2-astra (runs without --work-type use the logic model)",
        "  - back: offload setup --code-model gpt-5.3-codex --logic-model gpt-5.4",
    ] {
        assert!(stdout.contains(line), "{line:?} in\n{stdout}");
    }
    let v = read_json(&m.config_path());
    assert_eq!(
        v,
        json!({
            "statusline": {"weekly": true},
            "runner": {"timeout": "20m", "effort": "high", "model_code": "gpt-6.2-sol",
                       "model_logic": "gpt-6.2-astra", "model": "gpt-6.2-astra"},
            "guard": {"mode": "warn", "approval_phrase": "go on"},
            "later": {"x": [1, 2]}
        })
    );
    let text = fs::read_to_string(m.config_path()).unwrap();
    assert!(
        text.find("statusline") < text.find("runner") && text.find("runner") < text.find("guard"),
        "the user's key order is kept:\n{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(m.config_path()).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // What offload reads now.
    let cfg = shared::config::Config::load_file(&m.config_path());
    assert!(cfg.warnings.is_empty(), "{:?}", cfg.warnings);
    let r = &cfg.config.runner;
    assert_eq!(
        (
            r.model_code.as_str(),
            r.model_logic.as_str(),
            r.model.as_str()
        ),
        ("gpt-6.2-sol", "gpt-6.2-astra", "gpt-6.2-astra")
    );
    // Claude Code's settings were not touched: this switches the models only.
    assert!(!m.settings_path().exists());
    assert!(!m.state().join("setup.json").exists());
    // Again: nothing to change, nothing written.
    let before = fs::read(m.config_path()).unwrap();
    let out = m
        .switch(&[
            "--code-model",
            "gpt-6.2-sol",
            "--logic-model",
            "gpt-6.2-astra",
        ])
        .expect_code(0);
    assert!(out.stdout().contains("nothing changed"), "{}", out.stdout());
    assert_eq!(fs::read(m.config_path()).unwrap(), before);
    // One role alone; a default model the user chose stays theirs.
    fs::write(
        m.config_path(),
        r#"{"runner": {"model": "gpt-5.5", "model_logic": "gpt-6-sol"}}"#,
    )
    .unwrap();
    m.switch(&["--logic-model", "gpt-6.2-astra"]).expect_code(0);
    assert_eq!(
        read_json(&m.config_path()),
        json!({"runner": {"model": "gpt-5.5", "model_logic": "gpt-6.2-astra"}})
    );
    // No config file yet: one is created.
    fs::remove_file(m.config_path()).unwrap();
    m.switch(&["--code-model", "gpt-6.1-sol"]).expect_code(0);
    assert_eq!(
        read_json(&m.config_path()),
        json!({"runner": {"model_code": "gpt-6.1-sol"}})
    );
}

#[test]
fn setup_warns_about_a_model_codex_does_not_know_and_refuses_names_that_are_none() {
    let m = Machine::new();
    fs::write(m.config_path(), USER_CONFIG).unwrap();
    // Unknown to codex's catalog: set, with a warning naming what codex offers.
    let out = m
        .switch(&["--code-model", "gpt-9-imaginary"])
        .expect_code(0);
    let err = out.stderr();
    assert!(
        err.contains(
            "offload: warning: gpt-9-imaginary is not in codex 0.171.0's catalog: codex would run \
             it on fallback metadata, which can degrade its work (set anyway; it offers \
             gpt-6.2-sol, gpt-6.2-astra, gpt-6.1-terra,"
        ),
        "{err}"
    );
    assert_eq!(
        read_json(&m.config_path())["runner"]["model_code"],
        "gpt-9-imaginary"
    );
    // Names that cannot be models: refused, nothing written.
    let before = fs::read(m.config_path()).unwrap();
    let long = "m".repeat(500);
    for (args, why) in [
        (
            vec!["--logic-model", ""],
            "--logic-model: the model name is empty",
        ),
        (
            vec!["--code-model", "   "],
            "--code-model: the model name is empty",
        ),
        (
            vec!["--code-model", "gpt 6; rm -rf /"],
            "--code-model: \"gpt 6; rm -rf /\" is not a model name: ' ' is not allowed",
        ),
        (vec!["--code-model=-m"], "\"-m\" is not a model name"),
        (vec!["--code-model", "$(id)"], "is not a model name"),
        (vec!["--code-model", &long], "is too long"),
        (
            vec!["--code-model", "x", "--project"],
            "cannot be used with",
        ),
    ] {
        let out = m.switch(&args).expect_code(2);
        assert!(out.stderr().contains(why), "{args:?}: {}", out.stderr());
        assert_eq!(fs::read(m.config_path()).unwrap(), before, "{args:?}");
    }
    // A config that is not a JSON object is the user's to fix: never overwritten.
    for broken in ["{\"runner\": ", "[1, 2]", "{\"runner\": 5}"] {
        fs::write(m.config_path(), broken).unwrap();
        let out = m.switch(&["--code-model", "gpt-6.2-sol"]).expect_code(1);
        assert!(
            out.stderr()
                .contains(&m.config_path().display().to_string())
                && out.stderr().contains("Nothing was written"),
            "{broken}: {}",
            out.stderr()
        );
        assert_eq!(fs::read_to_string(m.config_path()).unwrap(), broken);
    }
    // --dry-run shows the change and writes nothing.
    fs::write(m.config_path(), USER_CONFIG).unwrap();
    let out = m
        .switch(&["--dry-run", "--code-model", "gpt-6.2-sol"])
        .expect_code(0);
    assert!(
        out.stdout()
            .contains("runner.model_code: gpt-5.3-codex → gpt-6.2-sol"),
        "{}",
        out.stdout()
    );
    assert_eq!(fs::read_to_string(m.config_path()).unwrap(), USER_CONFIG);
    // Without codex the models are still switched, with a note that they were not checked.
    let out = m
        .offload(&["setup", "--code-model", "gpt-6.2-sol"])
        .expect_code(0);
    assert!(
        out.stderr().contains("the models were not checked"),
        "{}",
        out.stderr()
    );
    assert_eq!(
        read_json(&m.config_path())["runner"]["model_code"],
        "gpt-6.2-sol"
    );
}

/// The review gate: `--review-gate` turns it on in offload's config and adds the Stop hook
/// (beside the user's own, with the long timeout and no `onFailure`); plain setup keeps it;
/// `--no-review-gate` takes it out; uninstall removes it with the rest.
#[test]
fn review_gate_is_wired_only_when_asked_and_taken_out_again() {
    let m = Machine::new().with_claude("2.1.332");
    m.write_settings(RICH);
    let original: Value = serde_json::from_str(RICH).unwrap();
    let config = m.state().join("config.json");
    fs::write(&config, r#"{"runner": {"model": "kept"}}"#).unwrap();

    m.offload(&["setup"]).expect_code(0);
    assert_eq!(
        m.settings()["hooks"]["Stop"],
        original["hooks"]["Stop"],
        "off unless asked"
    );

    let dry = m
        .offload(&["setup", "--review-gate", "--dry-run"])
        .expect_code(0);
    assert!(
        dry.stdout().contains("the review gate would be on"),
        "{}",
        dry.stdout()
    );
    assert!(
        dry.stdout().contains("\"timeout\": 1260"),
        "{}",
        dry.stdout()
    );
    assert_eq!(read_json(&config), json!({"runner": {"model": "kept"}}));

    let out = m.offload(&["setup", "--review-gate"]).expect_code(0);
    assert!(
        out.stdout().contains("the review gate is now on"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout().contains("hooks.Stop: added"),
        "{}",
        out.stdout()
    );
    assert_eq!(
        read_json(&config),
        json!({"runner": {"model": "kept"}, "guard": {"review_gate": true}})
    );
    let stop = m.settings()["hooks"]["Stop"].clone();
    assert_eq!(
        stop,
        json!([
            original["hooks"]["Stop"][0],
            {"hooks": [{"type": "command", "command": bin("offload-hook"), "timeout": 1260}]}
        ]),
        "no onFailure on the Stop hook, even for a Claude Code that takes it"
    );
    // Plain setup keeps it (the config says on); so does a second --review-gate.
    let again = m.offload(&["setup"]).expect_code(0);
    assert!(
        again.stdout().contains("nothing changed"),
        "{}",
        again.stdout()
    );
    let again = m.offload(&["setup", "--review-gate"]).expect_code(0);
    assert!(
        again.stdout().contains("is on already"),
        "{}",
        again.stdout()
    );
    assert_eq!(m.settings()["hooks"]["Stop"], stop);

    // An object in the config keeps its fields.
    fs::write(&config, r#"{"guard": {"review_gate": {"rounds": 2}}}"#).unwrap();
    let out = m.offload(&["setup", "--no-review-gate"]).expect_code(0);
    assert!(
        out.stdout().contains("the review gate is now off"),
        "{}",
        out.stdout()
    );
    assert!(
        out.stdout()
            .contains("hooks.Stop: removed offload-hook (the review gate is off)"),
        "{}",
        out.stdout()
    );
    assert_eq!(
        read_json(&config),
        json!({"guard": {"review_gate": {"rounds": 2, "enabled": false}}})
    );
    assert_eq!(m.settings()["hooks"]["Stop"], original["hooks"]["Stop"]);

    m.offload(&["setup", "--review-gate"]).expect_code(0);
    assert_eq!(
        read_json(&config),
        json!({"guard": {"review_gate": {"rounds": 2, "enabled": true}}})
    );
    m.offload(&["uninstall"]).expect_code(0);
    assert_eq!(m.settings(), original, "uninstall gives back the original");

    // Both flags at once is a usage error.
    m.offload(&["setup", "--review-gate", "--no-review-gate"])
        .expect_code(2);
}

/// A config that is not a JSON object is never overwritten by --review-gate.
#[test]
fn review_gate_refuses_to_rewrite_a_broken_config() {
    let m = Machine::new().with_claude("2.1.332");
    let config = m.state().join("config.json");
    fs::write(&config, "{not json").unwrap();
    let out = m.offload(&["setup", "--review-gate"]).expect_code(1);
    assert!(out.stderr().contains("not valid JSON"), "{}", out.stderr());
    assert_eq!(fs::read_to_string(&config).unwrap(), "{not json");
    assert!(!m.settings_path().exists(), "nothing else was done");
}
