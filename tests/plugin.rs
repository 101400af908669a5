//! The plugin form with the real Claude Code 2.1.332: `claude plugin validate`, `claude plugin
//! marketplace add <repo>`, `claude plugin install offload@offload`, then a headless session in
//! which the plugin's guard denies an Edit of code. And its hooks.json on every pinned version
//! (2.1.197, 2.1.330, 2.1.332).

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use offload_testkit::claude::{ClaudeHome, require_real_claude};
use offload_testkit::messages::{MockMessages, Step};
use serde_json::json;

fn claude_cmd(home: &ClaudeHome, claude: &Path, args: &[&str]) -> (i32, String) {
    let mut cmd: Command = home.command(claude, &home.project());
    let out = cmd.args(args).output().expect("run claude");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[test]
fn the_plugin_validates_installs_and_guards() {
    let Some(claude) = require_real_claude(None) else {
        return;
    };
    let repo = support::repo_root();
    let mock = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&mock.base_url());

    let (code, text) = claude_cmd(
        &home,
        &claude,
        &[
            "plugin",
            "validate",
            &repo.join("plugin").display().to_string(),
        ],
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Validation passed"), "{text}");
    assert!(
        text.contains("skills") || text.contains("hooks: PreToolUse"),
        "{text}"
    );

    let (code, text) = claude_cmd(
        &home,
        &claude,
        &["plugin", "marketplace", "add", &repo.display().to_string()],
    );
    assert_eq!(code, 0, "{text}");
    let (code, text) = claude_cmd(&home, &claude, &["plugin", "install", "offload@offload"]);
    assert_eq!(code, 0, "{text}");
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.settings_path()).unwrap()).unwrap();
    assert_eq!(
        settings["enabledPlugins"]["offload@offload"], true,
        "{settings}"
    );
    // Only the plugin folder is copied into Claude Code's cache, not the repository's build output.
    let cache = home.home().join(".claude/plugins/cache/offload/offload");
    let version_dir = std::fs::read_dir(&cache)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(version_dir.join("hooks/hooks.json").exists());
    assert!(
        version_dir
            .join("skills/plan-and-execute/SKILL.md")
            .exists()
    );
    assert!(!version_dir.join("target").exists() && !version_dir.join("Cargo.toml").exists());

    // Permissions for the tools, kept beside what `plugin install` wrote.
    let mut settings = settings;
    settings["permissions"] = json!({"allow": ["Read", "Edit"]});
    home.settings(settings);
    std::fs::create_dir_all(home.project().join("src")).unwrap();
    let lib = home.project().join("src/lib.rs");
    std::fs::write(&lib, "fn a() {}\n").unwrap();
    mock.push(Step::tool_use("Read", json!({"file_path": lib})));
    mock.push(Step::tool_use(
        "Edit",
        json!({"file_path": lib, "old_string": "fn a() {}", "new_string": "fn b() {}"}),
    ));
    mock.push(Step::text("ok"));
    let bin_dir = support::workspace_bin("offload-hook")
        .parent()
        .unwrap()
        .display()
        .to_string();
    let state = tempfile::tempdir().unwrap();
    let run = home.run_headless_with(
        &claude,
        &home.project(),
        "rename a to b",
        &[],
        &[
            ("OFFLOAD_BIN_DIR".into(), bin_dir),
            ("OFFLOAD_HOME".into(), state.path().display().to_string()),
        ],
        Duration::from_secs(120),
    );
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let results = mock.tool_results();
    let edit = &results[1];
    assert!(
        edit.is_error && edit.content.contains("route it to Codex first"),
        "{results:?}"
    );
    assert_eq!(std::fs::read_to_string(&lib).unwrap(), "fn a() {}\n");

    // Without the binaries installed the plugin's hook fails closed.
    mock.push(Step::tool_use(
        "Edit",
        json!({"file_path": lib, "old_string": "fn a() {}", "new_string": "fn b() {}"}),
    ));
    mock.push(Step::text("ok"));
    let run = home.run_headless_with(
        &claude,
        &home.project(),
        "again",
        &["--resume", run.session_id.as_deref().unwrap()],
        &[
            ("OFFLOAD_BIN_DIR".into(), "/nonexistent".into()),
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("OFFLOAD_HOME".into(), state.path().display().to_string()),
        ],
        Duration::from_secs(120),
    );
    let _ = run;
    let results = mock.tool_results();
    let blocked = results.last().unwrap();
    assert!(
        blocked.is_error
            && blocked
                .content
                .contains("offload-hook binary is not installed"),
        "{results:?}"
    );
    assert_eq!(std::fs::read_to_string(&lib).unwrap(), "fn a() {}\n");
}

/// Every pinned Claude Code loads the plugin's hooks. 2.1.197 rejects a whole hooks.json that
/// names an event it does not know (`PreSkillShellCommand: Invalid key in record`, and then no
/// hook of the plugin runs), so the plugin registers only the events every version has: those
/// `offload setup` always registers. PreSkillShellCommand (2.1.332) comes from `offload setup`.
#[test]
fn the_plugin_hooks_load_on_every_pinned_claude_code() {
    let repo = support::repo_root();
    let text = std::fs::read_to_string(repo.join("plugin/hooks/hooks.json")).unwrap();
    let hooks: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut events: Vec<&str> = hooks["hooks"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let mut always: Vec<&str> = shared::settings::EVENTS.iter().map(|(e, _)| *e).collect();
    events.sort_unstable();
    always.sort_unstable();
    assert_eq!(events, always);
    for (event, matcher) in shared::settings::EVENTS {
        assert_eq!(
            hooks["hooks"][event][0]["matcher"].as_str(),
            matcher,
            "{event}"
        );
    }

    for version in [Some("2.1.197"), Some("2.1.330"), None] {
        let Some(claude) = require_real_claude(version) else {
            continue;
        };
        let mock = MockMessages::start().unwrap();
        let home = ClaudeHome::new(&mock.base_url());
        let plugin = repo.join("plugin").display().to_string();
        let (code, text) = claude_cmd(&home, &claude, &["plugin", "validate", &plugin]);
        assert_eq!(code, 0, "{version:?}: {text}");
        assert!(text.contains("Validation passed"), "{version:?}: {text}");

        // Loaded for a session (--plugin-dir), its guard denies an Edit of code.
        home.settings(json!({"permissions": {"allow": ["Read", "Edit"]}}));
        std::fs::create_dir_all(home.project().join("src")).unwrap();
        let lib = home.project().join("src/lib.rs");
        std::fs::write(&lib, "fn a() {}\n").unwrap();
        mock.push(Step::tool_use("Read", json!({"file_path": lib})));
        mock.push(Step::tool_use(
            "Edit",
            json!({"file_path": lib, "old_string": "fn a() {}", "new_string": "fn b() {}"}),
        ));
        mock.push(Step::text("ok"));
        let bin_dir = support::workspace_bin("offload-hook")
            .parent()
            .unwrap()
            .display()
            .to_string();
        let state = tempfile::tempdir().unwrap();
        let run = home.run_headless_with(
            &claude,
            &home.project(),
            "rename a to b",
            &["--plugin-dir", &plugin],
            &[
                ("OFFLOAD_BIN_DIR".into(), bin_dir),
                ("OFFLOAD_HOME".into(), state.path().display().to_string()),
            ],
            Duration::from_secs(120),
        );
        assert_eq!(run.code, Some(0), "{version:?}: {}", run.stderr);
        let results = mock.tool_results();
        assert!(
            results[1].is_error && results[1].content.contains("route it to Codex first"),
            "{version:?}: {results:?}"
        );
        assert_eq!(std::fs::read_to_string(&lib).unwrap(), "fn a() {}\n");
    }
}

/// The README's way with the plugin, in the real Claude Code: `offload setup` (here before the
/// plugin, as older instructions had it), `claude plugin install`, `offload setup` again. Wired
/// twice, every hook runs twice (two `turn.started`, two denials of one Edit); after the second
/// setup each event runs exactly one offload-hook (the plugin's), and the statusline and the
/// PreSkillShellCommand hook stay from setup.
#[test]
fn setup_and_the_plugin_run_one_hook_per_event() {
    let Some(claude) = require_real_claude(None) else {
        return;
    };
    let repo = support::repo_root();
    let mock = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&mock.base_url());
    let state = tempfile::tempdir().unwrap();
    let offload = |args: &[&str]| {
        let out = Command::new(support::offload_bin())
            .args(args)
            .env("HOME", home.home())
            .env("OFFLOAD_HOME", state.path())
            .env("OFFLOAD_CLAUDE_BIN", &claude)
            .env_remove("CLAUDECODE")
            .env_remove("CLAUDE_CODE_ENTRYPOINT")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "offload {args:?}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    // The test's own settings (the mock's key, permissions) stay beside what setup adds.
    home.settings(json!({"permissions": {"allow": ["Read", "Edit"]}}));
    offload(&["setup"]);
    for args in [
        &["plugin", "marketplace", "add", &repo.display().to_string()][..],
        &["plugin", "install", "offload@offload"][..],
    ] {
        let (code, text) = claude_cmd(&home, &claude, args);
        assert_eq!(code, 0, "{text}");
    }
    std::fs::create_dir_all(home.project().join("src")).unwrap();
    let lib = home.project().join("src/lib.rs");
    std::fs::write(&lib, "fn a() {}\n").unwrap();
    let bin_dir = support::offload_bin()
        .parent()
        .unwrap()
        .display()
        .to_string();
    let session = |prompt: &str| {
        mock.push(Step::tool_use(
            "Edit",
            json!({"file_path": lib, "old_string": "fn a() {}", "new_string": "fn b() {}"}),
        ));
        mock.push(Step::text("ok"));
        let run = home.run_headless_with(
            &claude,
            &home.project(),
            prompt,
            &[],
            &[
                ("OFFLOAD_BIN_DIR".into(), bin_dir.clone()),
                ("OFFLOAD_HOME".into(), state.path().display().to_string()),
            ],
            Duration::from_secs(120),
        );
        assert_eq!(run.code, Some(0), "{}", run.stderr);
        let id = run.session_id.clone().expect("session id");
        let events: Vec<serde_json::Value> =
            std::fs::read_to_string(state.path().join("events.jsonl"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .filter(|e: &serde_json::Value| e["session"] == id.as_str())
                .collect();
        let count = |kind: &str| events.iter().filter(|e| e["kind"] == kind).count();
        (count("turn.started"), count("guard.denied"))
    };
    // Wired twice: the proof that the double wiring is real, and what doctor must flag.
    assert_eq!(
        session("rename a to b"),
        (2, 2),
        "setup's hooks and the plugin's both ran"
    );
    let doctor = Command::new(support::offload_bin())
        .args(["doctor", "--json"])
        .env("HOME", home.home())
        .env("OFFLOAD_HOME", state.path())
        .env("OFFLOAD_CLAUDE_BIN", &claude)
        .current_dir(home.project())
        .output()
        .unwrap();
    let checks: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let pre = checks
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "hook PreToolUse")
        .unwrap();
    assert_eq!(pre["status"], "warn", "{pre}");

    let out = offload(&["setup"]);
    assert!(
        out.contains("runs it; both would run every hook twice"),
        "{out}"
    );
    assert_eq!(session("rename a to b, once"), (1, 1), "one hook per event");
    assert_eq!(std::fs::read_to_string(&lib).unwrap(), "fn a() {}\n");
    let settings: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(home.settings_path()).unwrap()).unwrap();
    assert!(
        settings["statusLine"]["command"]
            .as_str()
            .unwrap()
            .contains("offload-statusline"),
        "{settings}"
    );
    assert_eq!(settings["enabledPlugins"]["offload@offload"], true);
    assert!(
        settings["hooks"]["PreSkillShellCommand"].is_array(),
        "{settings}"
    );
}
