//! Whether this process runs under Claude Code: the one check `offload setup`, `uninstall`,
//! `approve` and `restore` refuse on, so that Claude cannot rewire the guard, switch it off, or
//! approve its own fallback.
//!
//! Markers, any of which is enough:
//! - in this process's environment: `CLAUDECODE` (any value: Claude Code sets `1`, and a
//!   command that sets `0` is hiding it), `CLAUDE_CODE_SESSION_ID`, `CLAUDE_CODE_ENTRYPOINT`,
//!   offload's own `OFFLOAD_SESSION_ID` (its SessionStart hook puts it into every Bash command
//!   of a session), `AI_AGENT` naming Claude Code;
//! - an ancestor process that is Claude Code (its program), or whose environment (what it was
//!   started with, `/proc/<pid>/environ`) holds one of those variables: `env -i`, `env -u` or
//!   `VAR=… offload …` clean only the last process, not the shell Claude Code started.
//!
//! What it cannot see: a process detached from Claude Code's tree (`setsid -f`, a double fork,
//! `nohup … &`, `at`) that also cleaned its environment, whose ancestors are then init. For
//! `offload approve` a real terminal is required as well (see there), which such a process does
//! not have unless it makes one (`script`): that remains, with a terminal multiplexer the user
//! already runs (a window opened in the user's own `tmux`).

use std::path::Path;

const VARS: &[&str] = &[
    crate::env::CLAUDECODE,
    crate::env::CLAUDE_CODE_SESSION_ID,
    "CLAUDE_CODE_ENTRYPOINT",
    crate::env::OFFLOAD_SESSION_ID,
];

/// A marker in one environment (`NAME=value` entries).
fn in_environment<'a>(vars: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Option<String> {
    for (k, v) in vars {
        if let Some(name) = VARS.iter().find(|n| n.as_bytes() == k) {
            return Some(format!("{name} is set"));
        }
        if k == b"AI_AGENT" && v.starts_with(b"claude-code") {
            return Some("AI_AGENT names Claude Code".into());
        }
    }
    None
}

/// Why this process looks like it runs under Claude Code, if it does.
pub fn inside_claude_code() -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let own: Vec<(std::ffi::OsString, std::ffi::OsString)> = std::env::vars_os().collect();
    if let Some(why) = in_environment(own.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))) {
        return Some(why);
    }
    // Walk the parent chain (Linux /proc).
    for ppid in crate::process::ancestors() {
        let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline")).unwrap_or_default();
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let name = String::from_utf8_lossy(argv0);
        if is_claude(&cmdline) {
            return Some(format!("parent process {ppid} is {name}"));
        }
        if let Some(environ) = environ(ppid) {
            let vars = environ.split(|b| *b == 0).filter_map(|e| {
                let eq = e.iter().position(|b| *b == b'=')?;
                Some((&e[..eq], &e[eq + 1..]))
            });
            if let Some(why) = in_environment(vars) {
                return Some(format!("parent process {ppid} ({name}): {why}"));
            }
        }
    }
    None
}

/// The environment a process was started with, if it can be read.
fn environ(pid: u32) -> Option<Vec<u8>> {
    crate::fsutil::read_regular(Path::new(&format!("/proc/{pid}/environ")), 1 << 20).ok()?
}

/// The value of `name` in the environment the Claude Code process above this one was started
/// with (`Some(None)`: that process has no such variable; `None`: no Claude Code process found
/// among the ancestors, or its environment cannot be read). What the user set before starting
/// Claude Code, as opposed to what a command inside it set.
pub fn claude_started_with(name: &str) -> Option<Option<Vec<u8>>> {
    let ppid = crate::process::ancestors()
        .find(|&p| is_claude(&std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default()))?;
    let environ = environ(ppid)?;
    let mut key = name.as_bytes().to_vec();
    key.push(b'=');
    Some(
        environ
            .split(|b| *b == 0)
            .find_map(|e| e.strip_prefix(&key[..]).map(<[u8]>::to_vec)),
    )
}

/// Whether a process's command line (NUL-separated) is Claude Code's.
fn is_claude(cmdline: &[u8]) -> bool {
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let name = String::from_utf8_lossy(argv0);
    let base = name.rsplit('/').next().unwrap_or_default();
    base == "claude"
        || base.starts_with("claude-")
        || cmdline
            .split(|b| *b == 0)
            .take(3)
            .any(|a| String::from_utf8_lossy(a).contains("@anthropic-ai/claude-code"))
}

/// Whether standard input is a terminal this process is in the foreground of (what a user's
/// own shell gives a command, and Claude Code's Bash tool does not).
pub fn on_a_terminal() -> bool {
    // SAFETY: plain queries of descriptor 0.
    unsafe { libc::isatty(0) == 1 && libc::tcgetpgrp(0) == libc::getpgrp() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_in_an_environment() {
        let e = |pairs: &[(&str, &str)]| {
            in_environment(pairs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())))
        };
        assert!(e(&[("CLAUDECODE", "0")]).is_some(), "any value");
        assert!(e(&[("OFFLOAD_SESSION_ID", "s")]).is_some());
        assert!(e(&[("AI_AGENT", "claude-code/2.1")]).is_some());
        assert!(e(&[("AI_AGENT", "other")]).is_none());
        assert!(e(&[("PATH", "/bin"), ("HOME", "/h")]).is_none());
    }
}
