//! What the hook's process tests share: a committed git project, and one hook call as Claude
//! Code makes it.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

pub const HOOK: &str = env!("CARGO_BIN_EXE_offload-hook");

/// `git init`, add everything and commit in `dir`, with no global config.
pub fn commit_all(dir: &Path) {
    for args in [&["init", "-q"][..], &["add", "-A"], &["commit", "-qm", "x"]] {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .stdout(Stdio::null())
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }
}

/// The hook's stdout for `payload`, run in project `dir` with state folder `state` and the
/// mode `mode` (`None`: the config's).
pub fn hook(dir: &Path, state: &Path, payload: &Value, mode: Option<&str>) -> String {
    let mut cmd = Command::new(HOOK);
    cmd.current_dir(dir)
        .env("OFFLOAD_HOME", state)
        .env("CLAUDE_PROJECT_DIR", dir)
        .env_remove("OFFLOAD_MODE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if let Some(m) = mode {
        cmd.env("OFFLOAD_MODE", m);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(payload.to_string().as_bytes())
        .unwrap();
    String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap()
}
