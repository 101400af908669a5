//! `offload stats` and `offload doctor` as processes, on prepared ledgers and prepared
//! machines: a fixture `events.jsonl` with fixed timestamps across days, sessions, models,
//! outcomes and denials (and a broken line and a torn tail), fake `codex` and `claude` scripts,
//! wired and unwired settings. Terminal output is compared with snapshots in
//! `tests/fixtures/stats/` (`UPDATE_SNAPSHOTS=1` rewrites them), after the machine-specific
//! bits (temporary paths, the build folder, latencies) are normalised.

mod support;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use shared::ledger::Event;
use support::{Done, Run, Sandbox, offload_bin, repo_root, workspace_bin};

const SESSION_A: &str = "3f2c1a9e-7b7d-4c39-9a1e-0d6f5b2c8e11";
const SESSION_B: &str = "9b1d0c44-2a6e-4f0b-8c3d-5e7f9a1b2c3d";
const SESSION_C: &str = "c0ffee00-1111-4222-8333-944455556666";

fn fixture(name: &str) -> PathBuf {
    repo_root().join("tests/fixtures/stats").join(name)
}

/// Compare with a committed snapshot, or rewrite it under `UPDATE_SNAPSHOTS=1`.
#[track_caller]
fn snapshot(name: &str, actual: &str) {
    let path = fixture(name);
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        fs::write(&path, actual).unwrap();
        return;
    }
    let want = fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with UPDATE_SNAPSHOTS=1 to write it",
            path.display()
        )
    });
    assert_eq!(
        actual, want,
        "output differs from the snapshot {name} (UPDATE_SNAPSHOTS=1 rewrites it)\n--- actual\n{actual}"
    );
}

/// A sandbox whose ledger is the fixture log, byte for byte (no summaries yet).
fn with_fixture_ledger() -> Sandbox {
    let sb = Sandbox::new();
    fs::create_dir_all(sb.home()).unwrap();
    fs::set_permissions(sb.home(), fs::Permissions::from_mode(0o700)).unwrap();
    fs::copy(fixture("events.jsonl"), sb.home().join("events.jsonl")).unwrap();
    sb
}

fn stats(sb: &Sandbox, args: &[&str]) -> Done {
    Run::new(offload_bin())
        .arg("stats")
        .args(args)
        .env("OFFLOAD_HOME", sb.home())
        .env("HOME", sb.file("home"))
        .env("TZ", "UTC")
        .current_dir(sb.work())
        .output()
}

fn stats_json(sb: &Sandbox, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = stats(sb, &all).expect_code(0);
    serde_json::from_str(&out.stdout()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout()))
}

fn group<'a>(list: &'a Value, key: Option<&str>) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|g| g["key"].as_str() == key)
        .unwrap_or_else(|| panic!("no group {key:?} in {list}"))
}

#[test]
fn stats_table_matches_the_snapshot() {
    let sb = with_fixture_ledger();
    let out = stats(&sb, &[]).expect_code(0);
    snapshot("stats.txt", &out.stdout());
    assert_eq!(out.stderr(), "");
    // Reading never changes the log, even its torn tail.
    assert_eq!(
        fs::read(sb.home().join("events.jsonl")).unwrap(),
        fs::read(fixture("events.jsonl")).unwrap()
    );
}

#[test]
fn stats_json_field_by_field() {
    let sb = with_fixture_ledger();
    let v = stats_json(&sb, &[]);
    assert_eq!(v["schema"], 1);
    assert_eq!(v["since"], Value::Null);
    assert_eq!(v["events"], 30);
    assert_eq!(v["skipped_lines"], 1, "the broken line in the middle");
    assert_eq!(v["torn_tail"], true);
    assert_eq!(v["unfinished"], 1, "a08 started and never finished");
    assert_eq!(
        v["events_file"],
        sb.home().join("events.jsonl").display().to_string()
    );

    let t = &v["total"];
    assert_eq!(t["key"], Value::Null);
    assert_eq!(t["first"], "2026-11-01T09:00:00Z");
    assert_eq!(t["last"], "2026-11-04T07:00:40Z");
    assert_eq!(
        (&t["turns"], &t["attempts"], &t["successes"], &t["failures"]),
        (&json!(5), &json!(7), &json!(4), &json!(3))
    );
    assert_eq!(t["success_rate"], 0.5714);
    assert_eq!(
        t["outcomes"],
        json!({"success": 4, "failed": 1, "timeout": 1, "limited": 1})
    );
    assert_eq!(
        t["tokens"],
        json!({"input": 293200, "cached_input": 220000, "output": 7170, "reasoning": 3340, "total": 300370})
    );
    assert_eq!(t["median_duration_ms"], 18400);
    assert_eq!(t["approvals"], 1);
    assert_eq!(
        t["denied"],
        json!({
            "total": 6,
            "by_tool": {"Edit": 4, "Agent": 1, "Bash": 1},
            "by_reason": {"fail-closed": 4, "route-first": 2}
        })
    );
    assert_eq!(
        t["would_deny"],
        json!({"total": 1, "by_tool": {"Write": 1}, "by_reason": {"route-first": 1}})
    );

    let days: Vec<(&str, u64)> = v["by_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["key"].as_str().unwrap(), g["attempts"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        days,
        [("2026-11-01", 3), ("2026-11-02", 3), ("2026-11-04", 1)],
        "only days with events; 11-03 had none"
    );
    let nov2 = group(&v["by_day"], Some("2026-11-02"));
    assert_eq!(nov2["median_duration_ms"], 63000);
    assert_eq!(nov2["would_deny"]["by_tool"]["Write"], 1);
    assert_eq!(nov2["tokens"]["total"], 197250);

    let sessions: Vec<Option<&str>> = v["by_session"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["key"].as_str())
        .collect();
    assert_eq!(
        sessions,
        [Some(SESSION_A), Some(SESSION_B), Some(SESSION_C), None],
        "by first event; the session-less group last"
    );
    let a = group(&v["by_session"], Some(SESSION_A));
    assert_eq!((&a["attempts"], &a["turns"]), (&json!(3), &json!(3)));
    assert_eq!(
        a["denied"],
        json!({"total": 3, "by_tool": {"Edit": 3}, "by_reason": {"fail-closed": 2, "route-first": 1}})
    );
    assert_eq!(a["last"], "2026-11-04T07:00:40Z", "a session across days");
    let b = group(&v["by_session"], Some(SESSION_B));
    assert_eq!(
        (&b["success_rate"], &b["approvals"]),
        (&json!(0.0), &json!(1))
    );
    assert_eq!(b["outcomes"], json!({"failed": 1}));
    let c = group(&v["by_session"], Some(SESSION_C));
    assert_eq!(
        (&a["project"], &c["project"]),
        (
            &json!("/home/dev/proj"),
            &json!("/home/dev/src/clients/offload-plugin")
        ),
        "the turn's project, else the attempts' folder; the full path"
    );
    assert_eq!(t["project"], Value::Null);
    let none = group(&v["by_session"], None);
    assert_eq!((&none["attempts"], &none["turns"]), (&json!(1), &json!(0)));

    let models: Vec<(&str, u64, f64)> = v["by_model"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap(),
                g["attempts"].as_u64().unwrap(),
                g["success_rate"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(models, [("gpt-5.3-codex", 5, 0.4), ("gpt-5.4", 2, 1.0)]);
    let codex = group(&v["by_model"], Some("gpt-5.3-codex"));
    assert_eq!(codex["median_duration_ms"], 41200);
    assert_eq!(codex["denied"]["total"], 0, "denials belong to no model");
    assert!(v.get("rebuild").is_none(), "only with --rebuild");
}

#[test]
fn since_takes_a_date_a_time_or_an_age() {
    let sb = with_fixture_ledger();
    let v = stats_json(&sb, &["--since", "2026-11-02"]);
    assert_eq!(v["since"], "2026-11-02T00:00:00Z");
    assert_eq!(v["total"]["attempts"], 4);
    assert_eq!(v["total"]["denied"]["total"], 3);
    assert_eq!(v["by_day"].as_array().unwrap().len(), 2);
    assert_eq!(
        group(&v["by_session"], Some(SESSION_A))["first"],
        "2026-11-04T07:00:00Z"
    );
    assert!(
        v["by_session"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["key"] != SESSION_B),
        "session B ended on the 1st"
    );

    // One day of data still has its sparkline: one bar.
    let one_day = stats(&sb, &["--since", "2026-11-04"])
        .expect_code(0)
        .stdout();
    assert!(
        one_day.contains("\n  per day   █  attempts on 11-04: 1\n"),
        "{one_day}"
    );

    let v = stats_json(&sb, &["--since", "2026-11-04T07:00:06+00:00"]);
    assert_eq!(v["total"]["attempts"], 0);
    assert_eq!(v["total"]["denied"]["total"], 2);

    // Ages count back from now; the fixture is from 2026-11-01..04.
    let all = stats_json(&sb, &["--since", "100000d"]);
    assert_eq!(all["total"], stats_json(&sb, &[])["total"]);
    let recent = stats(&sb, &["--since", "1h"]).expect_code(0);
    assert!(
        recent.stdout().starts_with("Nothing recorded since "),
        "{}",
        recent.stdout()
    );
    assert_eq!(stats_json(&sb, &["--since", "12h"])["events"], 0);

    let bad = stats(&sb, &["--since", "last tuesday"]).expect_code(2);
    assert!(
        bad.stderr()
            .starts_with("offload: --since \"last tuesday\": use a date"),
        "{}",
        bad.stderr()
    );
}

#[test]
fn rebuild_recomputes_summaries_and_says_whether_they_differed() {
    let sb = with_fixture_ledger();
    let first = stats(&sb, &["--rebuild"]).expect_code(0);
    let head = first.stdout().lines().next().unwrap().to_owned();
    assert!(
        head.contains(": 30 events, 2 skipped lines, 3 sessions; they differed and were replaced; a torn last line was terminated"),
        "{head}"
    );
    assert!(
        first
            .stdout()
            .contains("\nOffload stats  2026-11-01 → 2026-11-04")
    );
    let (folded, disk) = sb.ledger().verify().unwrap();
    assert_eq!(folded, disk, "summaries equal a fold of the log");
    assert_eq!(disk.totals.attempts, 7);
    assert_eq!(disk.sessions.len(), 3);

    let v = stats_json(&sb, &["--rebuild"]);
    assert_eq!(
        v["rebuild"],
        json!({"events": 30, "skipped_lines": 2, "sessions": 3, "changed": false, "repaired_tail": false})
    );
    assert_eq!(
        (&v["skipped_lines"], &v["torn_tail"]),
        (&json!(2), &json!(false)),
        "the terminated torn line is now a skipped line"
    );
    assert_eq!(
        v["total"]["attempts"], 7,
        "stats are the same after a rebuild"
    );

    // A summary gone wrong is found and replaced.
    fs::write(sb.home().join("totals.json"), "{\"v\":1,\"attempts\":99}").unwrap();
    let again = stats(&sb, &["--rebuild"]).expect_code(0);
    assert!(again.stdout().contains("they differed and were replaced"));
    let quiet = stats(&sb, &["--rebuild"]).expect_code(0);
    assert!(
        quiet.stdout().contains("they were already right"),
        "{}",
        quiet.stdout()
    );
}

#[test]
fn stats_on_an_empty_ledger() {
    let sb = Sandbox::new();
    let out = stats(&sb, &[]).expect_code(0);
    assert!(
        out.stdout().starts_with("Nothing recorded yet in "),
        "{}",
        out.stdout()
    );
    let v = stats_json(&sb, &[]);
    assert_eq!(v["events"], 0);
    assert_eq!(v["total"]["attempts"], 0);
    assert_eq!(v["total"]["success_rate"], Value::Null);
    assert_eq!(v["by_day"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// offload doctor

/// `codex --version`, `codex exec --help`, `codex login status` and `codex debug models
/// --bundled` as Codex CLI 0.169.0 answers them (help trimmed to the flags), recording the
/// CODEX_HOME it was given. Logged out when `$CODEX_HOME/logged-out` exists (as the real one
/// says it, on stderr, exit 1); a `config.toml` whose second line is `oops = "` is one it cannot
/// load (said as 0.171.0 says it); the catalog is the file `FAKE_CODEX_CATALOG` names, else one
/// that knows offload's default models.
const FAKE_CODEX: &str = r#"#!/bin/sh
[ -n "${FAKE_CODEX_HOME_LOG:-}" ] && echo "${CODEX_HOME:-unset}" >> "$FAKE_CODEX_HOME_LOG"
case "$1 $2" in
  "--version ") echo "codex-cli 0.169.0" ;;
  "login status")
    config="${CODEX_HOME:-$HOME/.codex}/config.toml"
    if [ "$(sed -n 2p "$config" 2>/dev/null)" = 'oops = "' ]; then
      echo "Error loading configuration: $config:2:9: invalid basic string, expected \`\"\`" >&2
      exit 1
    fi
    if [ -e "${CODEX_HOME:-$HOME/.codex}/logged-out" ]; then echo "Not logged in" >&2; exit 1; fi
    echo "API key configured - sk-test-***56789"
    echo "Authentication is checked when you send a request." ;;
  "debug models")
    if [ -n "${FAKE_CODEX_CATALOG:-}" ]; then
      cat "$FAKE_CODEX_CATALOG"
    else
      echo '{"models":[{"slug":"gpt-5.3-codex","visibility":"list","priority":1,"description":"Coding."},{"slug":"gpt-5.4","visibility":"list","priority":2,"description":"Reasoning."}]}'
    fi ;;
  "exec --help")
    cat <<'EOF'
Run Codex non-interactively

Usage: codex exec [OPTIONS] [PROMPT]

Options:
  -c, --config <key=value>
  -m, --model <MODEL>
  -s, --sandbox <SANDBOX_MODE>
  -C, --cd <DIR>
      --skip-git-repo-check
      --ephemeral
      --json
  -o, --output-last-message <FILE>
  -h, --help
EOF
    ;;
  *) echo "fake codex: unexpected $*" >&2; exit 2 ;;
esac
"#;

/// An old codex: no --skip-git-repo-check yet, and --full-auto still there.
const OLD_CODEX: &str = r#"#!/bin/sh
case "$1" in
  --version) echo "codex-cli 0.98.0" ;;
  exec) printf '%s\n' "Options:" "  -m, --model <MODEL>" "  -s, --sandbox <MODE>" "  -C, --cd <DIR>" "      --full-auto" "      --json" "  -o, --output-last-message <FILE>" "  -c, --config <key=value>" ;;
esac
"#;

fn script(path: &Path, text: &str) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn claude_script(version: &str) -> String {
    format!("#!/bin/sh\necho '{version} (Claude Code)'\n")
}

/// A machine: a HOME, a bin folder on a PATH without the real clients, and a project.
struct Machine {
    sb: Sandbox,
}

impl Machine {
    fn new() -> Machine {
        let sb = Sandbox::new();
        fs::create_dir_all(sb.file("home")).unwrap();
        fs::create_dir_all(sb.file("bin")).unwrap();
        // `offload` on PATH, as after ./install.sh with ~/.local/bin on PATH.
        std::os::unix::fs::symlink(offload_bin(), sb.file("bin/offload")).unwrap();
        Machine { sb }
    }

    fn home(&self) -> PathBuf {
        self.sb.file("home")
    }

    fn settings(&self, path: &Path, value: &Value) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    }

    fn user_settings(&self, value: &Value) {
        self.settings(&self.home().join(".claude/settings.json"), value);
    }

    /// `offload doctor` on this machine, with CODEX_HOME set to the sandbox's.
    fn doctor(&self, args: &[&str]) -> Run {
        self.doctor_without_codex_home(args)
            .env("CODEX_HOME", self.sb.codex_home())
    }

    /// `offload doctor` with CODEX_HOME unset (the support builder scrubs it).
    fn doctor_without_codex_home(&self, args: &[&str]) -> Run {
        Run::new(offload_bin())
            .arg("doctor")
            .args(args)
            .env("HOME", self.home())
            .env("OFFLOAD_HOME", self.sb.home())
            .env(
                "PATH",
                format!("{}:/usr/bin:/bin", self.sb.file("bin").display()),
            )
            // Empty reads as unset: the developer's own value must not leak in.
            .env("OFFLOAD_CLAUDE_BIN", "")
            .current_dir(self.sb.work())
    }

    /// Machine-specific bits made stable: the sandbox, the build folder, latencies.
    fn normalise(&self, text: &str) -> String {
        let bin = offload_bin().parent().unwrap().display().to_string();
        let tmp = self.sb.dir.path().display().to_string();
        let text = text.replace(&bin, "<bin>").replace(&tmp, "<tmp>");
        let mut out = String::new();
        for line in text.lines() {
            match line.find(" ms (median of") {
                Some(end) => {
                    let start = line[..end].rfind(' ').unwrap();
                    out.push_str(&line[..=start]);
                    out.push_str("<ms>");
                    out.push_str(&line[end..]);
                }
                None => out.push_str(line),
            }
            out.push('\n');
        }
        out
    }
}

fn wired_settings(hook: &Path, statusline: &Path) -> Value {
    let hook = format!("\"{}\"", hook.display());
    let entry = |matcher: Option<&str>| {
        let mut v = json!({"hooks": [{"type": "command", "command": hook, "timeout": 10}]});
        if let Some(m) = matcher {
            v["matcher"] = json!(m);
            v["hooks"][0]["onFailure"] = json!("block");
        }
        v
    };
    json!({
        "model": "opus",
        "hooks": {
            "PreToolUse": [entry(Some("Edit|Write|NotebookEdit|MultiEdit|Agent|Task|Workflow|Bash|mcp__.*"))],
            "PostToolUse": [entry(Some("Bash"))],
            "PostToolUseFailure": [entry(Some("Bash"))],
            "SessionStart": [entry(None)],
            "UserPromptSubmit": [entry(None)],
            "PreSkillShellCommand": [entry(None)],
        },
        // What setup writes when the user had a statusline of their own.
        "statusLine": {"type": "command", "command": format!("{} --wrap 'echo mine'", statusline.display())},
    })
}

/// A ledger written the way offload writes it (summaries up to date): the fixture's valid
/// events, appended.
fn consistent_ledger(sb: &Sandbox) {
    let events: Vec<Event> = fs::read_to_string(fixture("events.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert_eq!(events.len(), 30);
    sb.ledger().append(&events).unwrap();
}

fn marks(out: &str) -> Vec<(char, String)> {
    out.lines()
        .filter_map(|l| {
            let mark = l.chars().next()?;
            ['✓', '!', '✗']
                .contains(&mark)
                .then(|| (mark, l[mark.len_utf8()..].trim_start().to_owned()))
        })
        .collect()
}

#[test]
fn doctor_all_green_with_codex_claude_and_wired_settings() {
    let m = Machine::new();
    let bin = m.sb.file("bin");
    script(&bin.join("codex"), FAKE_CODEX);
    script(&bin.join("claude"), &claude_script("2.1.332"));
    m.user_settings(&wired_settings(
        &workspace_bin("offload-hook"),
        &workspace_bin("offload-statusline"),
    ));
    consistent_ledger(&m.sb);
    let log = m.sb.file("codex-home.log");
    let out = m
        .doctor(&[])
        .env("FAKE_CODEX_HOME_LOG", &log)
        .output()
        .expect_code(0);
    let text = out.stdout();
    for (mark, line) in marks(&text) {
        assert_eq!(mark, '✓', "{line}\n{text}");
    }
    assert_eq!(marks(&text).len(), 23, "{text}");
    snapshot("doctor-ok.txt", &m.normalise(&text));
    // codex ran with the CODEX_HOME it was given: --version, exec --help, login status and
    // debug models.
    let homes = fs::read_to_string(&log).unwrap();
    assert_eq!(
        homes,
        format!("{0}\n{0}\n{0}\n{0}\n", m.sb.codex_home().display())
    );
    // The self-tests left the user's ledger alone.
    let (folded, disk) = m.sb.ledger().verify().unwrap();
    assert_eq!(folded, disk);
    assert_eq!(m.sb.events().len(), 30);
}

#[test]
fn doctor_without_codex_home_gives_codex_a_temporary_one() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    let log = m.sb.file("codex-home.log");
    m.doctor_without_codex_home(&["--json"])
        .env("FAKE_CODEX_HOME_LOG", &log)
        .output();
    let homes = fs::read_to_string(&log).unwrap();
    let homes: Vec<&str> = homes.lines().collect();
    assert_eq!(
        homes.len(),
        3,
        "--version, exec --help and debug models: {homes:?}"
    );
    assert!(homes.iter().all(|h| *h == homes[0]), "{homes:?}");
    assert_ne!(homes[0], "unset", "PROTOCOLS.md §1: always set CODEX_HOME");
    assert!(
        !homes[0].starts_with(&m.home().display().to_string()),
        "{homes:?}"
    );
    assert!(
        !Path::new(homes[0]).exists(),
        "the temporary CODEX_HOME is removed afterwards"
    );
    // Without CODEX_HOME, `login status` is asked of ~/.codex only where it exists: nothing is
    // created there.
    assert!(!m.home().join(".codex").exists());
}

#[test]
fn doctor_reports_what_is_broken_with_hints_and_exits_1() {
    let m = Machine::new();
    // No codex, no claude on PATH. Settings: someone else's guard and statusline, and in the
    // project an offload-hook that is not there any more.
    m.user_settings(&json!({
        "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "/usr/local/bin/other-guard"}]}]},
        "statusLine": {"type": "command", "command": "ccline"},
    }));
    m.settings(
        &m.sb.work().join(".claude/settings.local.json"),
        &json!({"hooks": {"PreToolUse": [{"matcher": "Edit|Write", "hooks": [{"type": "command", "command": "/opt/gone/offload-hook"}]}]}}),
    );
    // The fixture ledger: a torn tail and no summaries.
    fs::create_dir_all(m.sb.home()).unwrap();
    fs::set_permissions(m.sb.home(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::copy(fixture("events.jsonl"), m.sb.home().join("events.jsonl")).unwrap();
    workspace_bin("offload-hook");
    let out = m.doctor(&[]).output().expect_code(1);
    let text = m.normalise(&out.stdout());
    snapshot("doctor-broken.txt", &text);
    let marks = marks(&text);
    let status = |name: &str| {
        marks
            .iter()
            .find(|(_, l)| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("no {name} line in\n{text}"))
            .0
    };
    assert_eq!(status("codex"), '✗');
    assert!(
        !text.contains("codex flags"),
        "no flags check without codex"
    );
    assert_eq!(status("claude code"), '!');
    assert_eq!(status("hook PreToolUse"), '✗');
    assert_eq!(status("hook SessionStart"), '✗');
    assert_eq!(status("statusline"), '!');
    assert_eq!(status("state folder"), '!');
    assert_eq!(status("ledger"), '!');
    assert_eq!(status("summaries"), '✗');
    assert_eq!(status("hook self-test"), '✓');
    assert!(text.contains("→ run `offload stats --rebuild`"), "{text}");
    assert!(text.contains("/opt/gone/offload-hook (in ./"), "{text}");
    // Hints sit under every non-✓ line.
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        if l.starts_with('✗') || l.starts_with('!') {
            assert!(lines[i + 1].trim_start().starts_with("→ "), "{l}");
        }
    }

    // Fixing the summaries fixes that line.
    stats(&m.sb, &["--rebuild"]).expect_code(0);
    let again = m.doctor(&[]).output().expect_code(1);
    let again = again.stdout();
    assert!(again.contains("✓ summaries"), "{again}");
    assert!(
        again.contains("✓ ledger"),
        "the rebuild terminated the torn line"
    );
}

#[test]
fn doctor_catches_clients_too_old_for_offload() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), OLD_CODEX);
    script(&m.sb.file("bin/claude"), &claude_script("2.1.197"));
    m.user_settings(&wired_settings(
        &workspace_bin("offload-hook"),
        &workspace_bin("offload-statusline"),
    ));
    let v: Value =
        serde_json::from_str(&m.doctor(&["--json"]).output().expect_code(1).stdout()).unwrap();
    let check = |name: &str| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == name)
            .unwrap_or_else(|| panic!("no {name} in {v}"))
            .clone()
    };
    let flags = check("codex flags");
    assert_eq!(flags["status"], "fail");
    assert_eq!(flags["detail"], "`codex exec` lacks --skip-git-repo-check");
    // Older than every tested codex: a warning with the command that installs the tested one.
    let codex = check("codex");
    assert_eq!(codex["status"], "warn", "{codex}");
    assert!(
        codex["detail"]
            .as_str()
            .unwrap()
            .contains("older than any tested version (0.169.0 and later)"),
        "{codex}"
    );
    assert!(
        codex["hint"]
            .as_str()
            .unwrap()
            .ends_with("npm install -g @openai/codex@0.171.0"),
        "{codex}"
    );
    let claude = check("claude code");
    assert_eq!(claude["status"], "ok");
    assert!(
        claude["detail"]
            .as_str()
            .unwrap()
            .ends_with("· a tested version"),
        "{claude}"
    );
    assert!(
        claude["detail"]
            .as_str()
            .unwrap()
            .contains("hook onFailure: no"),
        "{claude}"
    );
    let pre = check("hook PreToolUse");
    assert_eq!(pre["status"], "fail", "onFailure on 2.1.197: {pre}");
    assert!(pre["hint"].as_str().unwrap().contains("onFailure"));
    assert_eq!(check("hook SessionStart")["status"], "ok");
    let skill = check("hook PreSkillShellCommand");
    assert_eq!(skill["status"], "warn", "{skill}");
}

#[test]
fn doctor_reports_numbers_out_of_range_and_never_panics() {
    let m = Machine::new();
    fs::create_dir_all(m.sb.home()).unwrap();
    let cfg = m.sb.home().join("config.json");
    fs::write(
        &cfg,
        json!({
            "runner": {"timeout": "1e20", "kill_grace": "1e20"},
            "guard": {"attempt_scope": "1e15"},
            "statusline": {"wrap_timeout_ms": u64::MAX},
        })
        .to_string(),
    )
    .unwrap();
    let out = m
        .doctor(&["--json"])
        .env("CODEX_TIMEOUT", "1e20")
        .env("OFFLOAD_KILL_GRACE", "-1")
        .output();
    let code = out.0.status.code();
    assert!(matches!(code, Some(0 | 1)), "{code:?}: {}", out.stderr());
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    let c = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "config")
        .unwrap();
    assert_eq!(c["status"], "warn", "{c}");
    let detail = c["detail"].as_str().unwrap();
    for part in [
        "runner.timeout: \"1e20\" is too large (allowed: 100ms to 24h)",
        "runner.kill_grace: \"1e20\" is too large (allowed: 0s to 60s)",
        "guard.attempt_scope: \"1e15\" is too long (allowed: turn, session, or a duration of 1s to 30d)",
        "statusline.wrap_timeout_ms: 18446744073709551615 is out of range (allowed: a whole number, 1 to 10000)",
        "CODEX_TIMEOUT: \"1e20\"",
        "OFFLOAD_KILL_GRACE: \"-1\" is negative",
    ] {
        assert!(detail.contains(part), "{part:?} in {detail}");
    }
    assert!(detail.contains(&cfg.display().to_string()), "{detail}");
    // Plain output too.
    let code = m
        .doctor(&[])
        .env("CODEX_TIMEOUT", "1e20")
        .output()
        .0
        .status
        .code();
    assert!(matches!(code, Some(0 | 1)), "{code:?}");
}

/// The `doctor --json` check named `name` on this machine, and the exit code.
fn doctor_check(m: &Machine, name: &str) -> (Value, Option<i32>) {
    let out = m.doctor(&["--json"]).output();
    let code = out.0.status.code();
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    let check = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} in {v}"))
        .clone();
    (check, code)
}

/// The catalog of Codex CLI 0.171.0 (`debug models --bundled`, long texts trimmed).
fn real_catalog() -> PathBuf {
    repo_root().join("shared/tests/fixtures/codex/debug-models-bundled.json")
}

fn models_check(m: &Machine, env: &[(&str, &Path)]) -> Value {
    let mut run = m.doctor(&["--json"]);
    for (k, v) in env {
        run = run.env(k, v);
    }
    let v: Value = serde_json::from_str(&run.output().stdout()).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "models")
        .unwrap_or_else(|| panic!("no models check in {v}"))
        .clone()
}

#[test]
fn doctor_flags_routed_models_codex_does_not_know_with_its_models_and_the_fix() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    let catalog = real_catalog();
    let c = models_check(&m, &[("FAKE_CODEX_CATALOG", &catalog)]);
    assert_eq!(c["status"], "warn", "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.starts_with(
            "gpt-5.3-codex (code, explore, review) and gpt-5.4 (analysis, default) are not in \
             codex 0.169.0's catalog: codex runs them on fallback metadata, which can degrade its \
             work; it offers gpt-6.2-sol (Fast, go-to model for coding and everyday work), \
             gpt-6.2-astra (Our most capable model for complex coding and professional work), \
             gpt-6.1-terra ("
        ),
        "{detail}"
    );
    assert!(
        detail.ends_with(", gpt-5.5 (Legacy coding model)"),
        "{detail}"
    );
    assert!(
        !detail.contains("codex-auto-review"),
        "hidden models are not offered"
    );
    assert_eq!(
        c["hint"],
        "offload setup --code-model gpt-6.2-sol --logic-model gpt-6.2-sol"
    );
    // The hint, run as it is, fixes it.
    let hint = c["hint"].as_str().unwrap().to_owned();
    Run::new(offload_bin())
        .args(hint.split_whitespace().skip(1))
        .env("HOME", m.home())
        .env("OFFLOAD_HOME", m.sb.home())
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", m.sb.file("bin").display()),
        )
        .env("FAKE_CODEX_CATALOG", &catalog)
        .output()
        .expect_code(0);
    let c = models_check(&m, &[("FAKE_CODEX_CATALOG", &catalog)]);
    assert_eq!(
        (c["status"].as_str(), c["detail"].as_str()),
        (
            Some("ok"),
            Some(
                "gpt-6.2-sol (code, explore, review, analysis, default): in codex 0.169.0's catalog"
            )
        ),
        "{c}"
    );

    // A role whose model comes from the environment is fixed there; a known one is left alone.
    fs::create_dir_all(m.sb.home()).unwrap();
    fs::write(
        m.sb.home().join("config.json"),
        r#"{"runner":{"model_logic":"gpt-6.2-astra","model":"gpt-6.2-astra"}}"#,
    )
    .unwrap();
    let c = models_check(&m, &[("FAKE_CODEX_CATALOG", &catalog)]);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .starts_with("gpt-5.3-codex (code, explore, review) is not in codex 0.169.0's catalog: codex runs it on"),
        "{c}"
    );
    assert_eq!(c["hint"], "offload setup --code-model gpt-6.2-sol");
    let c = models_check(
        &m,
        &[
            ("FAKE_CODEX_CATALOG", &catalog),
            ("CODEX_MODEL_CODE", Path::new("gpt-5.3-codex")),
        ],
    );
    assert_eq!(
        c["hint"],
        "set CODEX_MODEL_CODE=gpt-6.2-sol (the environment overrides the config)"
    );

    // A default model of its own (not the logic model) is named, and fixed where it is set.
    fs::write(
        m.sb.home().join("config.json"),
        r#"{"runner":{"model_code":"gpt-6.2-sol","model_logic":"gpt-6.2-astra","model":"o3"}}"#,
    )
    .unwrap();
    let c = models_check(&m, &[("FAKE_CODEX_CATALOG", &catalog)]);
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .starts_with("o3 (default) is not in codex 0.169.0's catalog"),
        "{c}"
    );
    assert_eq!(
        c["hint"],
        format!(
            "set \"model\" under \"runner\" in {} to one of them",
            m.sb.home().join("config.json").display()
        )
    );
    let c = models_check(
        &m,
        &[
            ("FAKE_CODEX_CATALOG", &catalog),
            ("CODEX_MODEL", Path::new("o3")),
        ],
    );
    assert_eq!(
        c["hint"],
        "set CODEX_MODEL=gpt-6.2-sol (the environment overrides the config)"
    );

    // Models it knows: ok, with codex's own suggestion for a model it has a successor for.
    fs::write(
        m.sb.home().join("config.json"),
        r#"{"runner":{"model_code":"gpt-5.5","model_logic":"gpt-6.2-astra","model":"gpt-6.2-astra"}}"#,
    )
    .unwrap();
    let c = models_check(&m, &[("FAKE_CODEX_CATALOG", &catalog)]);
    assert_eq!(c["status"], "ok", "{c}");
    assert_eq!(
        c["detail"],
        "gpt-5.5 (code, explore, review) and gpt-6.2-astra (analysis, default): in codex \
         0.169.0's catalog (codex suggests gpt-6-sol over gpt-5.5)"
    );

    // A catalog that cannot be read: could not check, never a failure.
    let garbage = m.sb.file("garbage.json");
    fs::write(&garbage, "WARNING: this is not JSON").unwrap();
    let c = models_check(&m, &[("FAKE_CODEX_CATALOG", &garbage)]);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("could not check them against codex's catalog (the catalog is not JSON"),
        "{c}"
    );
    // The doctor asked codex itself each time, and left its answer for `offload run`.
    let cache = fs::read_to_string(m.sb.home().join("codex-models.json")).unwrap();
    assert!(cache.contains("not JSON"), "{cache}");
}

#[test]
fn doctor_on_skills_inline_shell_commands_by_claude_code_version() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    let hook = workspace_bin("offload-hook");
    let statusline = workspace_bin("offload-statusline");
    let mut wired = wired_settings(&hook, &statusline);
    // Keys Claude Code 2.1.330 knows only.
    wired["hooks"]
        .as_object_mut()
        .unwrap()
        .remove("PreSkillShellCommand");
    let name = "hook PreSkillShellCommand";

    // Older than 2.1.332: the commands fire no hook; a warning naming the setting that stops them.
    script(&m.sb.file("bin/claude"), &claude_script("2.1.330"));
    m.user_settings(&wired);
    let (c, code) = doctor_check(&m, name);
    assert_eq!(c["status"], "warn", "{c}");
    assert_eq!(code, Some(0), "a warning only");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("Claude Code 2.1.330 has no PreSkillShellCommand event"),
        "{c}"
    );
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("without any offload check"),
        "{c}"
    );
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains("\"disableSkillShellExecution\": true"),
        "{c}"
    );
    // The setting closes the gap (the project's file counts too).
    m.settings(
        &m.sb.work().join(".claude/settings.json"),
        &json!({"disableSkillShellExecution": true}),
    );
    let (c, _) = doctor_check(&m, name);
    assert_eq!(c["status"], "ok", "{c}");
    assert!(c["detail"].as_str().unwrap().contains("are off"), "{c}");
    // A more specific file turning it back on reopens it.
    m.settings(
        &m.sb.work().join(".claude/settings.local.json"),
        &json!({"disableSkillShellExecution": false}),
    );
    assert_eq!(doctor_check(&m, name).0["status"], "warn");
    fs::remove_file(m.sb.work().join(".claude/settings.local.json")).unwrap();
    fs::remove_file(m.sb.work().join(".claude/settings.json")).unwrap();

    // 2.1.332 without the hook: a problem, exit 1.
    script(&m.sb.file("bin/claude"), &claude_script("2.1.332"));
    let (c, code) = doctor_check(&m, name);
    assert_eq!(c["status"], "fail", "{c}");
    assert_eq!(code, Some(1));
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("no PreSkillShellCommand hook runs offload-hook"),
        "{c}"
    );
    assert!(c["hint"].as_str().unwrap().contains("offload setup"), "{c}");
    // The plugin does not bring it.
    let mut with_plugin = wired.clone();
    with_plugin["enabledPlugins"] = json!({"offload@offload": true});
    m.user_settings(&with_plugin);
    assert_eq!(doctor_check(&m, name).0["status"], "fail");
    // Wired: fine.
    m.user_settings(&wired_settings(&hook, &statusline));
    let (c, code) = doctor_check(&m, name);
    assert_eq!(c["status"], "ok", "{c}");
    assert_eq!(code, Some(0));
    // Its program gone: a problem like any other hook.
    m.user_settings(&json!({"hooks": {"PreSkillShellCommand": [{"hooks": [
        {"type": "command", "command": "/opt/gone/offload-hook"}]}]}}));
    let (c, _) = doctor_check(&m, name);
    assert_eq!(c["status"], "fail", "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("does not exist"),
        "{c}"
    );
    // Or stopped by the setting.
    m.user_settings(&json!({"disableSkillShellExecution": true}));
    assert_eq!(doctor_check(&m, name).0["status"], "ok");

    // Version unknown and not wired: a warning.
    fs::remove_file(m.sb.file("bin/claude")).unwrap();
    m.user_settings(&wired);
    let (c, _) = doctor_check(&m, name);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("version is unknown"),
        "{c}"
    );
}

#[test]
fn doctor_warns_when_the_post_tool_use_hooks_are_missing() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    script(&m.sb.file("bin/claude"), &claude_script("2.1.332"));
    let mut settings = wired_settings(
        &workspace_bin("offload-hook"),
        &workspace_bin("offload-statusline"),
    );
    let hooks = settings["hooks"].as_object_mut().unwrap();
    hooks.remove("PostToolUseFailure");
    hooks["PostToolUse"][0]["matcher"] = json!("Write|Edit");
    m.user_settings(&settings);
    let (post, code) = doctor_check(&m, "hook PostToolUse");
    assert_eq!(code, Some(0), "warnings only");
    assert_eq!(post["status"], "warn", "{post}");
    assert!(
        post["detail"].as_str().unwrap().contains("leaves out Bash"),
        "{post}"
    );
    let (failure, _) = doctor_check(&m, "hook PostToolUseFailure");
    assert_eq!(failure["status"], "warn", "{failure}");
    assert!(
        failure["detail"]
            .as_str()
            .unwrap()
            .starts_with("no PostToolUseFailure hook runs offload-hook"),
        "{failure}"
    );
    assert!(failure["hint"].as_str().unwrap().contains("offload setup"));
}

#[test]
fn doctor_says_a_newer_claude_code_is_newer_than_tested() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    script(&m.sb.file("bin/claude"), &claude_script("2.1.400"));
    m.user_settings(&wired_settings(
        &workspace_bin("offload-hook"),
        &workspace_bin("offload-statusline"),
    ));
    let (claude, _) = doctor_check(&m, "claude code");
    assert_eq!(claude["status"], "ok", "newer is not a problem: {claude}");
    assert!(
        claude["detail"]
            .as_str()
            .unwrap()
            .ends_with("· newer than the newest tested (2.1.332)"),
        "{claude}"
    );
}

#[test]
fn doctor_json_shape() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    m.user_settings(&wired_settings(
        &workspace_bin("offload-hook"),
        &workspace_bin("offload-statusline"),
    ));
    let out = m.doctor(&["--json"]).output().expect_code(0);
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    let checks = v.as_array().unwrap();
    let names: Vec<&str> = checks
        .iter()
        .map(|c| c["check"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "codex",
            "codex login",
            "codex flags",
            "models",
            "claude code",
            "offload on PATH",
            "settings",
            "hook PreToolUse",
            "hook SessionStart",
            "hook UserPromptSubmit",
            "hook PostToolUse",
            "hook PostToolUseFailure",
            "hook PreSkillShellCommand",
            "review gate",
            "statusline",
            "state folder",
            "config",
            "hook self-test",
            "statusline self-test",
            "tamper",
            "telemetry"
        ]
    );
    for c in checks {
        let o = c.as_object().unwrap();
        let status = c["status"].as_str().unwrap();
        assert!(["ok", "warn", "fail"].contains(&status), "{c}");
        assert!(c["detail"].is_string(), "{c}");
        assert!(o.contains_key("hint"), "{c}");
        assert_eq!(c["hint"].is_null(), status == "ok", "{c}");
        let self_test = c["check"].as_str().unwrap().ends_with("self-test");
        assert_eq!(o.contains_key("ms"), self_test, "{c}");
        if self_test {
            assert!(c["ms"].as_f64().unwrap() > 0.0, "{c}");
        }
        let mut keys: Vec<&str> = o.keys().map(String::as_str).collect();
        keys.retain(|k| !["check", "status", "detail", "hint", "ms"].contains(k));
        assert!(keys.is_empty(), "{c}");
    }
    // Claude Code missing is only a warning.
    let claude = checks.iter().find(|c| c["check"] == "claude code").unwrap();
    assert_eq!(claude["status"], "warn");
    assert!(
        claude["hint"]
            .as_str()
            .unwrap()
            .contains("OFFLOAD_CLAUDE_BIN")
    );
}

#[test]
fn doctor_accepts_hooks_from_the_enabled_plugin() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    m.user_settings(&json!({
        "enabledPlugins": {"offload@offload": true},
        "statusLine": {"type": "command", "command": workspace_bin("offload-statusline")},
    }));
    let v: Value =
        serde_json::from_str(&m.doctor(&["--json"]).output().expect_code(0).stdout()).unwrap();
    for event in [
        "PreToolUse",
        "SessionStart",
        "UserPromptSubmit",
        "PostToolUse",
        "PostToolUseFailure",
    ] {
        let c = v
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == format!("hook {event}"))
            .unwrap();
        assert_eq!(c["status"], "ok", "{c}");
        assert_eq!(
            c["detail"],
            "via plugin offload@offload (enabled in ~/.claude/settings.json)"
        );
    }
    // A disabled plugin wires nothing.
    m.user_settings(&json!({"enabledPlugins": {"offload@offload": false}}));
    m.doctor(&[]).output().expect_code(1);
}

/// offload-hook wired twice, by setup and by the plugin, or in the user's and the project's
/// settings: a warning per event naming both places and how to keep one.
#[test]
fn doctor_flags_hooks_wired_twice() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    script(&m.sb.file("bin/claude"), &claude_script("2.1.332"));
    let mut wired = wired_settings(
        &workspace_bin("offload-hook"),
        &workspace_bin("offload-statusline"),
    );
    let (pre, _) = doctor_check(&m, "hook PreToolUse");
    assert_eq!(pre["status"], "fail", "nothing wired yet: {pre}");

    // Setup's hooks, and the plugin enabled too.
    wired["enabledPlugins"] = json!({"offload@offload": true});
    m.user_settings(&wired);
    for event in [
        "PreToolUse",
        "SessionStart",
        "UserPromptSubmit",
        "PostToolUse",
    ] {
        let (c, _) = doctor_check(&m, &format!("hook {event}"));
        assert_eq!(c["status"], "warn", "{event}: {c}");
        let detail = c["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!("offload-hook runs 2 times for each {event}"))
                && detail.contains("plugin offload@offload"),
            "{c}"
        );
        assert!(
            c["hint"]
                .as_str()
                .unwrap()
                .contains("offload setup --statusline-only"),
            "{c}"
        );
    }
    // The plugin alone: one hook per event, all fine.
    let mut plugin_only = json!({"enabledPlugins": {"offload@offload": true}});
    plugin_only["statusLine"] = wired["statusLine"].clone();
    plugin_only["hooks"] =
        json!({"PreSkillShellCommand": wired["hooks"]["PreSkillShellCommand"].clone()});
    m.user_settings(&plugin_only);
    let (pre, _) = doctor_check(&m, "hook PreToolUse");
    assert_eq!(pre["status"], "ok", "{pre}");
    let (skill, _) = doctor_check(&m, "hook PreSkillShellCommand");
    assert_eq!(skill["status"], "ok", "{skill}");

    // The plugin enabled for this project only, setup's hooks in the user's settings: keep
    // those (they guard every project), disable the plugin here.
    wired.as_object_mut().unwrap().remove("enabledPlugins");
    m.user_settings(&wired);
    m.settings(
        &m.sb.work().join(".claude/settings.json"),
        &json!({"enabledPlugins": {"offload@offload": true}}),
    );
    let (c, _) = doctor_check(&m, "hook PreToolUse");
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains("claude plugin disable offload@offload --scope project"),
        "{c}"
    );

    // The user's settings and the project's both wired with the same command: Claude Code
    // runs it once, so that is fine.
    m.settings(&m.sb.work().join(".claude/settings.json"), &wired);
    for event in ["PreToolUse", "PreSkillShellCommand"] {
        let (c, _) = doctor_check(&m, &format!("hook {event}"));
        assert_eq!(c["status"], "ok", "{event}: {c}");
    }
    // Two different commands (another copy of offload-hook in the project's): both run.
    let other_bin = m.sb.file("bin/offload-hook");
    std::os::unix::fs::symlink(workspace_bin("offload-hook"), &other_bin).unwrap();
    m.settings(
        &m.sb.work().join(".claude/settings.json"),
        &wired_settings(&other_bin, &workspace_bin("offload-statusline")),
    );
    for event in ["PreToolUse", "PreSkillShellCommand"] {
        let (c, _) = doctor_check(&m, &format!("hook {event}"));
        assert_eq!(c["status"], "warn", "{event}: {c}");
        assert!(
            c["hint"]
                .as_str()
                .unwrap()
                .contains("offload uninstall --project"),
            "{c}"
        );
    }
}

/// codex not logged in: every run would only retry until its timeout, so a problem with the
/// command that fixes it; unless codex uses a provider of its own or `CODEX_API_KEY`.
#[test]
fn doctor_checks_that_codex_is_logged_in() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    script(&m.sb.file("bin/claude"), &claude_script("2.1.332"));
    let (c, _) = doctor_check(&m, "codex login");
    assert_eq!(c["status"], "ok", "{c}");
    assert_eq!(c["detail"], "API key configured - sk-test-***56789");

    fs::create_dir_all(m.sb.codex_home()).unwrap();
    fs::write(m.sb.codex_home().join("logged-out"), "").unwrap();
    let (c, code) = doctor_check(&m, "codex login");
    assert_eq!((c["status"].as_str(), code), (Some("fail"), Some(1)), "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .starts_with("`codex login status`: Not logged in"),
        "{c}"
    );
    assert!(c["hint"].as_str().unwrap().contains("codex login"), "{c}");

    let out = m.doctor(&["--json"]).env("CODEX_API_KEY", "sk-x").output();
    let v: Value = serde_json::from_str(&out.stdout()).unwrap();
    let c = v
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == "codex login")
        .unwrap();
    assert_eq!(c["status"], "ok", "{c}");

    fs::write(
        m.sb.codex_home().join("config.toml"),
        "# mine\nmodel_provider = \"ollama\" # local\n\n[model_providers.ollama]\nname = \"x\"\n",
    )
    .unwrap();
    let (c, _) = doctor_check(&m, "codex login");
    assert_eq!(c["status"], "ok", "{c}");
    assert!(c["detail"].as_str().unwrap().contains("`ollama`"), "{c}");
}

/// A `config.toml` codex cannot load fails every run, logged in or not, with any provider: the
/// check says codex's own error and points at the file, not at `codex login`.
#[test]
fn doctor_names_a_codex_config_codex_cannot_load() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    script(&m.sb.file("bin/claude"), &claude_script("2.1.332"));
    fs::create_dir_all(m.sb.codex_home()).unwrap();
    let config = m.sb.codex_home().join("config.toml");
    for (first, api_key) in [
        ("model = \"gpt-5.5\"", false),
        ("model = \"gpt-5.5\"", true),
        ("model_provider = \"ollama\"", false),
    ] {
        fs::write(&config, format!("{first}\noops = \"\n")).unwrap();
        let mut run = m.doctor(&["--json"]);
        if api_key {
            run = run.env("CODEX_API_KEY", "sk-x");
        }
        let out = run.output();
        let v: Value = serde_json::from_str(&out.stdout()).unwrap();
        let c = v
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "codex login")
            .unwrap();
        assert_eq!((c["status"].as_str(), out.code()), (Some("fail"), 1), "{c}");
        let detail = c["detail"].as_str().unwrap();
        assert!(
            detail.starts_with(&format!(
                "`codex login status`: Error loading configuration: {}:2:9: invalid basic string",
                config.display()
            )) && detail.contains("codex cannot load its config"),
            "{c}"
        );
        let hint = c["hint"].as_str().unwrap();
        assert!(
            hint.starts_with(&format!("fix {}", config.display()))
                && !hint.contains("codex login`"),
            "{c}"
        );
    }
}

/// `offload` off PATH (or another one first on it): a warning, since Claude is given the full
/// path; the fix line says what to add to PATH.
#[test]
fn doctor_says_when_offload_is_not_on_path() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    let (c, _) = doctor_check(&m, "offload on PATH");
    assert_eq!(c["status"], "ok", "{c}");

    fs::remove_file(m.sb.file("bin/offload")).unwrap();
    let (c, code) = doctor_check(&m, "offload on PATH");
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .starts_with("`offload` is not on PATH: Claude is given it by its path"),
        "{c}"
    );
    let dir = offload_bin().parent().unwrap().display().to_string();
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("export PATH=\"{dir}:$PATH\"")),
        "{c}"
    );
    assert_ne!(code, None);

    script(&m.sb.file("bin/offload"), "#!/bin/sh\necho old\n");
    let (c, _) = doctor_check(&m, "offload on PATH");
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("an older install?"),
        "{c}"
    );
}

#[test]
fn doctor_on_the_review_gate() {
    let m = Machine::new();
    script(&m.sb.file("bin/codex"), FAKE_CODEX);
    script(&m.sb.file("bin/claude"), &claude_script("2.1.332"));
    let hook = workspace_bin("offload-hook");
    let mut wired = wired_settings(&hook, &workspace_bin("offload-statusline"));
    m.user_settings(&wired);
    let config = m.sb.home().join("config.json");
    let name = "review gate";

    // Off, and not wired: fine.
    let (c, _) = doctor_check(&m, name);
    assert_eq!(c["status"], "ok", "{c}");
    assert!(c["detail"].as_str().unwrap().starts_with("off"), "{c}");

    // On in the config, no Stop hook: nothing would be reviewed.
    fs::create_dir_all(m.sb.home()).unwrap();
    fs::write(&config, r#"{"guard": {"review_gate": {"timeout": "2m"}}}"#).unwrap();
    let (c, code) = doctor_check(&m, name);
    assert_eq!((c["status"].as_str(), code), (Some("warn"), Some(0)), "{c}");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .contains("nothing is reviewed"),
        "{c}"
    );
    assert!(
        c["hint"]
            .as_str()
            .unwrap()
            .contains("offload setup --review-gate"),
        "{c}"
    );

    // Wired as setup wires it.
    let stop = |timeout: u64| json!([{"hooks": [{"type": "command", "command": format!("\"{}\"", hook.display()), "timeout": timeout}]}]);
    wired["hooks"]["Stop"] = stop(1260);
    m.user_settings(&wired);
    let (c, _) = doctor_check(&m, name);
    assert_eq!(c["status"], "ok", "{c}");
    let detail = c["detail"].as_str().unwrap();
    assert!(
        detail.contains("on: 1 round per turn") && detail.contains("2m00s"),
        "{c}"
    );

    // A timeout shorter than a review's: Claude Code would end it first.
    wired["hooks"]["Stop"] = stop(60);
    m.user_settings(&wired);
    let (c, _) = doctor_check(&m, name);
    assert_eq!(c["status"], "warn", "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("timeout of 60s"),
        "{c}"
    );

    // Off again in the project's override: the hook is there and does nothing.
    wired["hooks"]["Stop"] = stop(1260);
    m.user_settings(&wired);
    fs::create_dir_all(m.sb.work().join(".claude")).unwrap();
    fs::write(
        m.sb.work().join(".claude/offload.json"),
        r#"{"guard": {"review_gate": false}}"#,
    )
    .unwrap();
    let (c, _) = doctor_check(&m, name);
    assert_eq!(c["status"], "ok", "{c}");
    assert!(
        c["detail"].as_str().unwrap().contains("does nothing"),
        "{c}"
    );
}
