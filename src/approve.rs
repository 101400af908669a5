//! `offload approve`: the user's own approval of a native fallback, from a terminal.
//!
//! It refuses to run inside Claude Code (`CLAUDECODE=1` or the other variables Claude Code sets
//! for its Bash tool, or a `claude` process among its ancestors): an approval Claude could give itself would be no approval at all. The guard also
//! denies Bash commands that run it.

use std::path::Path;

use shared::ledger::{Body, Event, Ledger, SessionSummary};
use shared::paths::Paths;

use crate::Error;
use crate::cli::ApproveArgs;

pub fn main(args: ApproveArgs) -> Result<u8, Error> {
    if let Some(why) = inside_claude_code() {
        return Err(Error::with_code(
            format!(
                "refusing to approve from inside Claude Code ({why}). The approval must come from the user: \
                 type the approval phrase in your next prompt, or run `offload approve` in your own terminal."
            ),
            1,
        ));
    }
    let paths = Paths::from_env().map_err(|e| Error::with_code(e.to_string(), 1))?;
    let ledger = Ledger::new(paths);
    let summary = match &args.session {
        Some(id) => ledger.session(id).ok_or_else(|| {
            Error::with_code(
                format!("no session {id:?} in the ledger (see `offload stats`)"),
                1,
            )
        })?,
        None => latest_session(&ledger.paths().sessions_dir()).ok_or_else(|| {
            Error::with_code(
                "no Claude Code session is recorded yet; nothing to approve".to_string(),
                1,
            )
        })?,
    };
    ledger
        .append(&[Event::now(
            Some(&summary.session),
            Body::ApprovalGranted {
                source: "terminal".into(),
            },
        )])
        .map_err(|e| Error::with_code(format!("cannot record the approval: {e}"), 1))?;
    let last = summary
        .last_attempt
        .as_ref()
        .map(|a| format!("; its last Codex attempt ended {}", a.outcome))
        .unwrap_or_default();
    println!(
        "approved a native fallback for session {} (turn {}){last}",
        summary.session, summary.turn
    );
    Ok(0)
}

/// The session with the newest event.
fn latest_session(dir: &Path) -> Option<SessionSummary> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .filter_map(|e| {
            serde_json::from_slice::<SessionSummary>(&std::fs::read(e.path()).ok()?).ok()
        })
        .filter(|s| !s.session.is_empty())
        .max_by_key(|s| s.last_event)
}

/// Why this process looks like it runs under Claude Code, if it does.
pub fn inside_claude_code() -> Option<String> {
    if std::env::var("CLAUDECODE").is_ok_and(|v| v == "1") {
        return Some("CLAUDECODE=1".into());
    }
    // Claude Code also sets these for the commands its Bash tool runs.
    for var in ["CLAUDE_CODE_SESSION_ID", "CLAUDE_CODE_ENTRYPOINT"] {
        if std::env::var_os(var).is_some_and(|v| !v.is_empty()) {
            return Some(format!("{var} is set"));
        }
    }
    if std::env::var("AI_AGENT").is_ok_and(|v| v.starts_with("claude-code")) {
        return Some("AI_AGENT names Claude Code".into());
    }
    // Walk the parent chain (Linux /proc); a stripped environment does not hide the parent.
    let mut pid = std::process::id();
    for _ in 0..64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let ppid: u32 = stat
            .rsplit(')')
            .next()?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        if ppid <= 1 {
            return None;
        }
        let cmdline = std::fs::read(format!("/proc/{ppid}/cmdline")).unwrap_or_default();
        let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
        let name = String::from_utf8_lossy(argv0);
        let base = name.rsplit('/').next().unwrap_or_default();
        if base == "claude"
            || base.starts_with("claude-")
            || name.contains("@anthropic-ai/claude-code")
        {
            return Some(format!("parent process {ppid} is {name}"));
        }
        pid = ppid;
    }
    None
}
