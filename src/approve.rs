//! `offload approve`: the user's own approval of a native fallback, from a terminal.
//!
//! It refuses to run inside Claude Code (see [`shared::claude_marker`]: Claude Code's variables
//! in this process or in an ancestor, or a `claude` process among its ancestors) and without a
//! real terminal (standard input a terminal whose foreground this process is in): an approval
//! Claude could give itself would be no approval at all. The guard also denies Bash commands
//! that run it.
//!
//! The terminal is judged too ([`shared::claude_marker::judge_terminal`]): a terminal made by a
//! program for another program (`script`, `expect`, an interpreter's pty) or by a process under
//! Claude Code is refused; one made during the session by processes all younger than the
//! session (a detached tmux server a command started) is recorded but flagged in the statusline
//! and doctor, so that an approval the user did not give does not pass silently.
//!
//! Which session: `--session ID`, or the session of the current project (the folder or an
//! ancestor of it that a session's latest turn worked in) active in the last day. Never the
//! newest session of another project: with none here, or several, it lists them and asks.

use std::path::{Path, PathBuf};

use chrono::Utc;
use shared::claude_marker::Terminal;
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
    if !shared::claude_marker::on_a_terminal() {
        return Err(Error::with_code(
            "refusing to approve without a terminal: run `offload approve` yourself, in a terminal \
             (its input must be the terminal, in the foreground)."
                .to_string(),
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
        None => {
            let here = std::env::current_dir()
                .map_err(|e| Error::with_code(format!("cannot read the current folder: {e}"), 1))?;
            pick(&sessions(&ledger.paths().sessions_dir()), &here)?
        }
    };
    // The terminal itself: one made for a program (or under Claude Code) is refused; one made
    // during the session by processes detached from everything older is recorded but flagged.
    let since = summary
        .first_event
        .or(summary.turn_started)
        .map(std::time::SystemTime::from);
    let (terminal, unverified) = match shared::claude_marker::judge_terminal(since) {
        Terminal::Refused(why) => {
            return Err(Error::with_code(
                format!(
                    "refusing to approve: {why}. Run `offload approve` yourself, in your own terminal, \
                     or type the approval phrase in your next prompt."
                ),
                1,
            ));
        }
        Terminal::Trusted(t) => (t, None),
        Terminal::Unverified(t, why) => (t, Some(why)),
    };
    ledger
        .append(&[Event::now(
            Some(&summary.session),
            Body::ApprovalGranted {
                source: "terminal".into(),
                terminal: Some(terminal.clone()),
                unverified: unverified.clone(),
            },
        )])
        .map_err(|e| Error::with_code(format!("cannot record the approval: {e}"), 1))?;
    let last = summary
        .last_attempt
        .as_ref()
        .map(|a| format!("; its last Codex attempt ended {}", a.outcome))
        .unwrap_or_default();
    let project = summary
        .project
        .as_deref()
        .map(|p| format!(" in {p}"))
        .unwrap_or_default();
    println!(
        "approved a native fallback for session {}{project} (turn {}){last}",
        summary.session, summary.turn
    );
    if let Some(why) = unverified {
        eprintln!(
            "offload: recorded from {terminal}, but flagged: {why}. The statusline shows ⚠ and \
             `offload doctor` names it until the turn ends."
        );
    }
    Ok(0)
}

/// Every session summary of the ledger.
fn sessions(dir: &Path) -> Vec<SessionSummary> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .take(100_000)
        .filter_map(|e| {
            let bytes = shared::fsutil::read_regular(&e.path(), 16 << 20).ok()??;
            serde_json::from_slice::<SessionSummary>(&bytes).ok()
        })
        .filter(|s| !s.session.is_empty())
        .collect()
}

/// The one session of the project `here` is in that was active in the last day.
fn pick(all: &[SessionSummary], here: &Path) -> Result<SessionSummary, Error> {
    let day_ago = Utc::now() - chrono::Duration::days(1);
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let here = real(here);
    let mut mine: Vec<&SessionSummary> = all
        .iter()
        .filter(|s| s.last_event.is_some_and(|t| t >= day_ago))
        .filter(|s| {
            s.project
                .as_deref()
                .is_some_and(|p| here.starts_with(real(&PathBuf::from(p))))
        })
        .collect();
    mine.sort_by_key(|s| std::cmp::Reverse(s.last_event));
    let list = |list: &[&SessionSummary]| -> String {
        list.iter()
            .take(10)
            .map(|s| {
                let age = s.last_event.map_or_else(
                    || "?".into(),
                    |t| {
                        let m = (Utc::now() - t).num_minutes().max(0);
                        if m < 60 {
                            format!("{m} min")
                        } else {
                            format!("{} h {} min", m / 60, m % 60)
                        }
                    },
                );
                format!(
                    "\n  {}  {}  turn {}, active {age} ago",
                    s.session,
                    s.project.as_deref().unwrap_or("(project unknown)"),
                    s.turn
                )
            })
            .collect()
    };
    match mine.len() {
        1 => Ok(mine[0].clone()),
        0 => {
            let mut recent: Vec<&SessionSummary> = all
                .iter()
                .filter(|s| s.last_event.is_some_and(|t| t >= day_ago))
                .collect();
            recent.sort_by_key(|s| std::cmp::Reverse(s.last_event));
            Err(Error::with_code(
                format!(
                    "no Claude Code session of {} was active in the last day; run this in the \
                     project's folder, or name the session with --session ID.{}",
                    here.display(),
                    if recent.is_empty() {
                        String::new()
                    } else {
                        format!(" Recent sessions:{}", list(&recent))
                    }
                ),
                1,
            ))
        }
        _ => Err(Error::with_code(
            format!(
                "several Claude Code sessions of this project were active in the last day; \
                 name the one to approve with --session ID:{}",
                list(&mine)
            ),
            1,
        )),
    }
}

/// Why this process looks like it runs under Claude Code, if it does.
pub fn inside_claude_code() -> Option<String> {
    shared::claude_marker::inside_claude_code()
}
