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
//! `offload approve` a real terminal is required as well, and [`judge_terminal`] looks at the
//! process holding it: a terminal made for a program (`script`) or under Claude Code is
//! refused, one made during the session by detached processes is flagged. What remains is a
//! terminal multiplexer the user already runs (keys sent into the user's own `tmux`), which
//! only the statusline's "fallback approved" shows.

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
    crate::process::ancestors()
        .find_map(|ppid| marker_of(ppid).map(|why| format!("parent process {ppid} {why}")))
}

/// Whether one process is Claude Code or was started with one of its variables.
fn marker_of(pid: u32) -> Option<String> {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
    let name = String::from_utf8_lossy(argv0);
    if is_claude(&cmdline) {
        return Some(format!("is {name}"));
    }
    let environ = environ(pid)?;
    let vars = environ.split(|b| *b == 0).filter_map(|e| {
        let eq = e.iter().position(|b| *b == b'=')?;
        Some((&e[..eq], &e[eq + 1..]))
    });
    in_environment(vars).map(|why| format!("({name}): {why}"))
}

/// Whether this hook's input was written by Claude Code itself, for a prompt that approves a
/// fallback: standard input must be the socket pair a Claude Code process made (its peer's
/// credentials, `SO_PEERCRED`) or a pipe whose writing end it holds, that
/// process one of the hook's three nearest ancestors (Claude Code runs a hook's command itself
/// or through a shell), and not itself under another Claude Code process or a process with
/// its markers (which a stand-in named `claude` that a command started would be). `Err`: why
/// not, and the approval is not recorded. `Ok(Some(why))`: recorded but flagged, because that
/// Claude Code process is detached from everything (its parent is init), which a real one
/// started from a terminal is not.
pub fn prompt_sender() -> Result<Option<String>, String> {
    let stdin = std::fs::read_link("/proc/self/fd/0")
        .map_err(|e| format!("cannot read what standard input is: {e}"))?;
    let stdin = stdin.to_string_lossy().into_owned();
    // Claude Code (libuv) gives a hook a socket pair: the process that made it is the peer's
    // credentials; with a pipe, the process holding its other end.
    let peer = if stdin.starts_with("socket:[") {
        let Some((pid, _)) = crate::process::socket_peer(0) else {
            return Err("its input is a socket with no peer process".into());
        };
        Some(pid as u32)
    } else if stdin.starts_with("pipe:[") {
        None
    } else {
        return Err(format!(
            "its input is {stdin}, not what Claude Code gives a hook (a command ran the hook itself)"
        ));
    };
    let nearest: Vec<u32> = crate::process::ancestors().take(3).collect();
    for &pid in &nearest {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let wrote = match peer {
            Some(p) => p == pid,
            None => holds(pid, &stdin),
        };
        if !is_claude(&cmdline) || !wrote {
            continue;
        }
        if let Some(why) = under_claude(pid) {
            return Err(why);
        }
        if crate::process::parent(pid) == Some(1) {
            return Ok(Some(format!(
                "the Claude Code process {pid} that wrote the prompt is detached from any terminal (its parent is init)"
            )));
        }
        return Ok(None);
    }
    Err(
        "its input did not come from a Claude Code process above the hook (a command ran the hook itself)"
            .into(),
    )
}

/// Why the Claude Code process `pid` is not the user's own: it runs under a process with Claude
/// Code's markers (a `claude` a command of another session started, or a stand-in). `None`:
/// nothing above it is.
fn under_claude(pid: u32) -> Option<String> {
    let mut p = pid;
    for _ in 0..64 {
        let up = crate::process::parent(p).filter(|&u| u > 1)?;
        if let Some(why) = marker_of(up) {
            return Some(format!(
                "the Claude Code process {pid} that wrote it runs under process {up} {why} (a stand-in a command started)"
            ));
        }
        p = up;
    }
    None
}

/// Why this hook's prompt comes from a Claude Code started inside another one's command (`claude
/// -p … --resume <session>` from the Bash tool): the nearest `claude` among the hook's three
/// nearest ancestors runs under a process with Claude Code's markers. Such a prompt does not
/// start a turn of the session (it would move the turn past a failed attempt). `None`: not
/// nested, or no Claude Code above the hook at all.
pub fn nested_prompt() -> Option<String> {
    let pid = crate::process::ancestors().take(3).find(|&pid| {
        is_claude(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default())
    })?;
    under_claude(pid)
}

/// Whether process `pid` has a descriptor open on `target` (a `pipe:[N]` name).
fn holds(pid: u32, target: &str) -> bool {
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten()
        .take(65_536)
        .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == target))
}

/// What `offload approve` makes of the terminal it was given.
#[derive(Debug, PartialEq, Eq)]
pub enum Terminal {
    /// A terminal a person plausibly types in: its name for the record.
    Trusted(String),
    /// Recorded, but flagged to the user (statusline and doctor): its name, and why.
    Unverified(String, String),
    /// Refused: why.
    Refused(String),
}

/// Programs that make a terminal for another program rather than for a person: a terminal
/// held by one of them is not the user's.
const TERMINAL_MAKERS: &[&str] = &[
    "script", "expect", "unbuffer", "socat", "empty", "ptyget", "python", "perl", "ruby", "php",
    "tclsh", "lua",
];

/// Judge the terminal on standard input: the process that holds its other side (the pty
/// master: a terminal emulator, tmux, sshd, … or a program Claude started), and that process's
/// ancestors. Refused: Claude Code's markers on any of them, or a terminal-making program
/// (`script`, `expect`, an interpreter). Unverified: the holder and every ancestor of it up to
/// init started after `session_start` (a terminal made during the session and detached from
/// every older process, such as a tmux server started by a command), which a person can do
/// too (a new `tmux` in another window) but is what a detached command would do. A holder
/// offload cannot see (another user's, such as sshd's) is trusted.
pub fn judge_terminal(session_start: Option<std::time::SystemTime>) -> Terminal {
    let tty = std::fs::read_link("/proc/self/fd/0")
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "the terminal".into());
    let Some(index) = tty
        .strip_prefix("/dev/pts/")
        .and_then(|n| n.parse::<u32>().ok())
    else {
        return Terminal::Trusted(tty);
    };
    let Some(holder) = pty_holder(index) else {
        return Terminal::Trusted(format!("{tty} (held by a process of another user)"));
    };
    let comm = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_else(|_| "?".into())
    };
    let name = comm(holder);
    let mut chain = vec![holder];
    let mut pid = holder;
    while let Some(p) = crate::process::parent(pid).filter(|&p| p > 1) {
        if chain.len() >= 64 || chain.contains(&p) {
            break;
        }
        chain.push(p);
        pid = p;
    }
    for &p in &chain {
        if let Some(why) = marker_of(p) {
            return Terminal::Refused(format!(
                "its terminal {tty} was made by {name} (pid {holder}) under Claude Code: process {p} {why}"
            ));
        }
    }
    let lower = name.to_ascii_lowercase();
    if TERMINAL_MAKERS.iter().any(|m| lower.starts_with(m)) {
        return Terminal::Refused(format!(
            "its terminal {tty} is held by `{name}` (pid {holder}), a program that makes a terminal for \
             another program, not one a person types in"
        ));
    }
    let desc = format!("{tty} of {name} (pid {holder})");
    if let Some(start) = session_start
        && chain
            .iter()
            .all(|&p| crate::process::started_at(p).is_some_and(|t| t > start))
    {
        let when = chrono::DateTime::<chrono::Utc>::from(
            crate::process::started_at(holder).unwrap_or(start),
        );
        return Terminal::Unverified(
            desc,
            format!(
                "its terminal was made by {name} (pid {holder}) at {} UTC, during the session, by \
                 processes that are all younger than the session",
                when.format("%H:%M:%S")
            ),
        );
    }
    Terminal::Trusted(desc)
}

/// The process of this user holding the master side of `/dev/pts/<index>`: a `/dev/ptmx`
/// descriptor whose `fdinfo` names that index (Linux 5.x+). Bounded: 65 536 processes, 4 096
/// descriptors each.
fn pty_holder(index: u32) -> Option<u32> {
    let want = format!("tty-index:\t{index}");
    for entry in std::fs::read_dir("/proc").ok()?.flatten().take(65_536) {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten().take(4096) {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            if target != Path::new("/dev/ptmx") && target != Path::new("/dev/pts/ptmx") {
                continue;
            }
            let info = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
            if std::fs::read_to_string(info).is_ok_and(|i| i.lines().any(|l| l == want)) {
                return Some(pid);
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

/// What the Claude Code process above this one started with, for judging which codex an
/// attempt ran (see `offload run`): its `CODEX_HOME`, `CODEX_BIN`, `PATH`, `HOME`, the
/// variables that decide what codex loads and where it talks
/// ([`crate::codex::trust::watched_var`]), and when it started. A background job's runner has
/// no Claude Code above it: its starter took this view and left it in the job's file.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClaudeView {
    pub codex_home: Option<String>,
    pub codex_bin: Option<String>,
    pub path: Option<String>,
    pub started: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    pub home: Option<String>,
    /// The watched variables it started with.
    #[serde(default)]
    pub env: std::collections::BTreeMap<String, String>,
}

impl ClaudeView {
    /// From the nearest Claude Code process above this one, if any.
    pub fn of_ancestor() -> Option<ClaudeView> {
        let pid = claude_ancestor()?;
        let environ = environ(pid)?;
        let vars: Vec<(String, String)> = environ
            .split(|b| *b == 0)
            .filter_map(|e| {
                let at = e.iter().position(|b| *b == b'=')?;
                Some((
                    String::from_utf8_lossy(&e[..at]).into_owned(),
                    String::from_utf8_lossy(&e[at + 1..]).into_owned(),
                ))
            })
            .collect();
        let get = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut env =
            crate::codex::trust::watched_env(vars.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        // Claude Code gives its commands the `env` of its settings on top of its own: the
        // user's and the managed ones are the user's choice (Claude's tools may not write
        // these variables there).
        env.extend(crate::telemetry::claude_settings_env_of(
            None,
            crate::codex::trust::watched_var,
        ));
        Some(ClaudeView {
            codex_home: get("CODEX_HOME"),
            codex_bin: get(crate::env::CODEX_BIN),
            path: get("PATH"),
            started: crate::process::started_at(pid).map(chrono::DateTime::from),
            home: get("HOME"),
            env,
        })
    }
}

/// The nearest Claude Code process among this process's ancestors.
pub fn claude_ancestor() -> Option<u32> {
    crate::process::ancestors()
        .find(|&p| is_claude(&std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default()))
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
