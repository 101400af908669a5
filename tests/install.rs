//! `install.sh` as a user runs it: from a clean clone of this repository's HEAD (so it tests what
//! is committed, not the working tree), with its own HOME and PREFIX, then a headless real Claude
//! Code session in which the installed guard denies an Edit of a code file, then
//! `install.sh --uninstall`, which gives the user's settings back.
//!
//! The build reuses this workspace's `target/` (CARGO_TARGET_DIR), so only offload's own crates
//! are rebuilt in release mode; the toolchain and the crate cache are the real ones (the rustup
//! proxy and cargo would otherwise look for them under the temporary HOME).

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use offload_testkit::claude::{ClaudeHome, require_real_claude};
use offload_testkit::messages::{MockMessages, Step};
use serde_json::{Value, json};
use shared::ledger::{Body, Ledger};
use shared::paths::Paths;
use support::{Done, Run, repo_root};

/// A clean clone of HEAD, and the environment install.sh runs with.
struct Installer {
    tmp: tempfile::TempDir,
    home: PathBuf,
    claude: PathBuf,
}

impl Installer {
    fn new(home: PathBuf, claude: PathBuf) -> Installer {
        let tmp = tempfile::tempdir().unwrap();
        let status = Command::new("git")
            .args(["clone", "--quiet"])
            .arg(repo_root())
            .arg(tmp.path().join("src"))
            .status()
            .expect("run git clone");
        assert!(status.success(), "git clone of the repository failed");
        Installer { tmp, home, claude }
    }

    fn prefix(&self) -> PathBuf {
        self.tmp.path().join("prefix")
    }

    fn state(&self) -> PathBuf {
        self.tmp.path().join("state")
    }

    /// `bash <clone>/install.sh ARGS` with stdin from /dev/null (no terminal, no prompts).
    fn run(&self, args: &[&str]) -> Done {
        let real_home = std::env::var_os("HOME").map(PathBuf::from);
        let from_home = |var: &str, sub: &str| {
            std::env::var_os(var)
                .map(PathBuf::from)
                .or_else(|| real_home.as_ref().map(|h| h.join(sub)))
        };
        // The toolchain's own cargo first (not the rustup proxy, which needs the real HOME).
        let mut path: Vec<PathBuf> = std::env::var_os("CARGO")
            .map(PathBuf::from)
            .and_then(|c| c.parent().map(Path::to_path_buf))
            .into_iter()
            .collect();
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| repo_root().join("target"));
        let mut run = Run::new("bash")
            .arg(self.tmp.path().join("src/install.sh"))
            .args(args)
            .env("HOME", &self.home)
            .env("PREFIX", self.prefix())
            .env("OFFLOAD_HOME", self.state())
            .env("OFFLOAD_CLAUDE_BIN", &self.claude)
            .env("OFFLOAD_BIN_DIR", "")
            .env("CARGO_TARGET_DIR", target)
            .env("CARGO_NET_OFFLINE", "true")
            .env("PATH", std::env::join_paths(path).unwrap())
            .current_dir(self.tmp.path());
        for (var, sub) in [("CARGO_HOME", ".cargo"), ("RUSTUP_HOME", ".rustup")] {
            if let Some(dir) = from_home(var, sub).filter(|d| d.is_dir()) {
                run = run.env(var, dir);
            }
        }
        run.output()
    }
}

fn read_json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", path.display()))
}

#[test]
fn install_from_a_clean_clone_guards_a_real_claude_session_and_uninstall_restores() {
    let Some(claude) = require_real_claude(None) else {
        return;
    };
    let messages = MockMessages::start().unwrap();
    let home = ClaudeHome::new(&messages.base_url());
    // The user's settings before offload: the permissions the session needs (so a denial can
    // only come from the guard), some env, and a statusline of their own.
    let original = json!({
        "permissions": {"allow": ["Read", "Edit", "Write"]},
        "env": {"MY_SETTING": "kept"},
        "statusLine": {"type": "command", "command": "echo mine", "padding": 1}
    });
    home.settings(original.clone());
    let installer = Installer::new(home.home(), claude.clone());
    let bin = installer.prefix().join("bin");

    let started = Instant::now();
    let out = installer.run(&[]);
    let out = out.expect_code(0);
    eprintln!("install.sh took {:?}", started.elapsed());
    let stdout = out.stdout();
    for b in ["offload", "offload-hook", "offload-statusline"] {
        assert!(bin.join(b).is_file(), "{b} installed\n{stdout}");
        assert!(
            stdout.contains(&format!("installed {}", bin.join(b).display())),
            "{stdout}"
        );
    }
    assert!(stdout.contains("claude: "), "reports claude: {stdout}");
    assert!(stdout.contains("offload setup (user)"), "{stdout}");
    assert!(
        stdout.contains("is not on your PATH"),
        "PATH hint: {stdout}"
    );

    let settings = read_json(&home.settings_path());
    let hook = bin.join("offload-hook").display().to_string();
    assert_eq!(
        settings["hooks"]["PreToolUse"][0]["hooks"][0],
        json!({"type": "command", "command": hook, "timeout": 10, "onFailure": "block"}),
        "the pinned Claude Code gets onFailure"
    );
    assert_eq!(settings["permissions"], original["permissions"]);
    assert_eq!(settings["env"], original["env"]);
    assert_eq!(settings["statusLine"]["padding"], 1);
    assert!(
        home.home()
            .join(".claude/skills/plan-and-execute/SKILL.md")
            .is_file()
    );

    // Again: nothing changes.
    let installed = fs::read(home.settings_path()).unwrap();
    let again = installer.run(&[]).expect_code(0);
    assert!(
        again.stdout().contains("already set up"),
        "{}",
        again.stdout()
    );
    assert_eq!(fs::read(home.settings_path()).unwrap(), installed);

    // A real session: the installed guard holds back an Edit of a .rs file.
    let project = home.project();
    fs::create_dir_all(project.join("src")).unwrap();
    fs::write(project.join("src/lib.rs"), "fn a() {}\n").unwrap();
    let file = project.join("src/lib.rs").display().to_string();
    messages.push(Step::tool_use("Read", json!({"file_path": file})));
    messages.push(Step::tool_use(
        "Edit",
        json!({"file_path": file, "old_string": "fn a() {}", "new_string": "fn b() {}"}),
    ));
    messages.push(Step::text("done"));
    let run = home.run_headless_with(
        &claude,
        &project,
        "rename a to b in src/lib.rs",
        &[],
        &[(
            "OFFLOAD_HOME".to_string(),
            installer.state().display().to_string(),
        )],
        Duration::from_secs(120),
    );
    assert!(!run.timed_out, "{}", run.shown());
    assert_eq!(run.code, Some(0), "{}", run.shown());
    let results = messages.tool_results();
    assert!(
        results.len() >= 2,
        "two tool results: {results:?}\n{}",
        run.shown()
    );
    assert!(!results[0].is_error, "the Read ran: {:?}", results[0]);
    assert!(results[1].is_error, "the Edit was denied: {:?}", results[1]);
    assert!(
        results[1].content.contains("route it to Codex first"),
        "{:?}",
        results[1]
    );
    assert_eq!(
        fs::read_to_string(project.join("src/lib.rs")).unwrap(),
        "fn a() {}\n"
    );
    let denied = Ledger::new(Paths::in_folder(installer.state()))
        .read_log()
        .unwrap()
        .events
        .into_iter()
        .filter(|e| matches!(&e.body, Body::GuardDenied { tool, .. } if tool == "Edit"))
        .count();
    assert_eq!(denied, 1, "the installed hook recorded its denial");

    // Uninstall: the user's settings come back; the binaries stay, with the command to delete
    // them.
    let un = installer.run(&["--uninstall"]).expect_code(0);
    assert_eq!(
        read_json(&home.settings_path()),
        original,
        "{}",
        un.stdout()
    );
    assert!(!home.home().join(".claude/skills/plan-and-execute").exists());
    assert!(bin.join("offload-hook").is_file());
    assert!(un.stdout().contains("rm -f "), "{}", un.stdout());
}
