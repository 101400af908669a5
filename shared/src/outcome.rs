//! How a Codex attempt ended, and the exit-code contract of `offload run`.
//!
//! | outcome | exit (fail-closed) | exit (`CODEX_FAIL_CLOSED=0`) |
//! |---|---|---|
//! | success | 0 | 0 |
//! | missing | 20 | 10 |
//! | timeout | 20 | 11 |
//! | failed  | 20 | 12 |
//! | limited | 20 | 13 |
//! | error   | 20 | 1  |
//! | interrupted | 20 | 1 |
//! | cancelled | 20 | 1 |
//!
//! Bad arguments to offload itself exit 2 (clap's usage error), before any attempt exists.
//!
//! `interrupted` is the user's stop (Claude Code's Esc, Ctrl-C: offload got SIGINT, SIGTERM or
//! SIGHUP and ended codex). It is neither a success nor a failure: it is counted apart (not in
//! S/F, not in a success rate), it never unlocks native work, and the guard passes over it
//! when it looks for the last attempt in scope (a failure before it still fails closed, a
//! success before it still counts). So a process that ends its own run gains nothing: an
//! interrupted attempt opens nothing that not running would have left closed. It keeps the
//! exit codes of the contract: 20 fail-closed, else 1 ("anything else"). `cancelled` is the
//! same kind of stop for a background job ended by `offload cancel`.
//!
//! An outcome this version does not know (written by a newer offload) reads as
//! [`Outcome::Unknown`] rather than making its line unreadable; it counts as a failure (the
//! guard fails closed on it).

use serde::{Deserialize, Serialize};

/// Exit codes of the `offload` binary, in one place.
pub mod exit {
    /// The attempt succeeded.
    pub const OK: u8 = 0;
    /// Anything else, while fail-closed is on (the default).
    pub const FAIL_CLOSED: u8 = 20;
    /// Codex was not found or is not executable (fail-closed off).
    pub const MISSING: u8 = 10;
    /// The wall-clock limit passed; codex was ended (fail-closed off).
    pub const TIMEOUT: u8 = 11;
    /// Codex ran and the turn failed (fail-closed off).
    pub const FAILED: u8 = 12;
    /// Usage or rate limit, quota, or credentials refused (fail-closed off).
    pub const LIMITED: u8 = 13;
    /// Anything else, including offload's own I/O failures and a run the user interrupted
    /// (fail-closed off).
    pub const ERROR: u8 = 1;
    /// Bad arguments to offload itself.
    pub const USAGE: u8 = 2;
    /// `offload wait`: the job is still running when the wait's time is up (sysexits'
    /// EX_TEMPFAIL: try again).
    pub const STILL_RUNNING: u8 = 75;
}

/// How an attempt ended, as decided by offload (not by codex's exit code alone).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// `turn.completed` seen, no `turn.failed`, codex exited 0.
    Success,
    /// codex not found or not executable.
    Missing,
    /// The wall-clock limit passed.
    Timeout,
    /// The turn failed, codex exited non-zero or was killed, or never completed the turn.
    Failed,
    /// Usage/rate limit, quota, or authentication refused.
    Limited,
    /// Anything else.
    Error,
    /// The user stopped the run (offload got SIGINT, SIGTERM or SIGHUP and ended codex).
    Interrupted,
    /// A background job ended by `offload cancel`: a stop like [`Outcome::Interrupted`].
    Cancelled,
    /// An outcome this version does not know (from a newer offload): a failure here.
    #[serde(other)]
    Unknown,
}

impl Outcome {
    /// Every outcome the runner decides, in table order ([`Outcome::Unknown`] is only read).
    pub const ALL: [Outcome; 8] = [
        Outcome::Success,
        Outcome::Missing,
        Outcome::Timeout,
        Outcome::Failed,
        Outcome::Limited,
        Outcome::Error,
        Outcome::Interrupted,
        Outcome::Cancelled,
    ];

    /// The lowercase name used in the ledger and in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Missing => "missing",
            Outcome::Timeout => "timeout",
            Outcome::Failed => "failed",
            Outcome::Limited => "limited",
            Outcome::Error => "error",
            Outcome::Interrupted => "interrupted",
            Outcome::Cancelled => "cancelled",
            Outcome::Unknown => "unknown",
        }
    }

    /// True only for [`Outcome::Success`].
    pub fn is_success(self) -> bool {
        self == Outcome::Success
    }

    /// True for a stop ([`Outcome::Interrupted`], [`Outcome::Cancelled`]): neither success nor
    /// failure.
    pub fn is_interrupted(self) -> bool {
        matches!(self, Outcome::Interrupted | Outcome::Cancelled)
    }

    /// A failure: anything but a success or an interruption (an unknown outcome included).
    /// What the S/F counts and what fails the guard closed.
    pub fn is_failure(self) -> bool {
        !self.is_success() && !self.is_interrupted()
    }

    /// The exit code for this outcome under the fail-closed setting.
    pub fn exit_code(self, fail_closed: bool) -> u8 {
        match (self, fail_closed) {
            (Outcome::Success, _) => exit::OK,
            (_, true) => exit::FAIL_CLOSED,
            (Outcome::Missing, false) => exit::MISSING,
            (Outcome::Timeout, false) => exit::TIMEOUT,
            (Outcome::Failed, false) => exit::FAILED,
            (Outcome::Limited, false) => exit::LIMITED,
            (
                Outcome::Error | Outcome::Interrupted | Outcome::Cancelled | Outcome::Unknown,
                false,
            ) => exit::ERROR,
        }
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_table_matches_the_contract() {
        let table: Vec<(Outcome, u8, u8)> = Outcome::ALL
            .iter()
            .map(|o| (*o, o.exit_code(true), o.exit_code(false)))
            .collect();
        assert_eq!(
            table,
            vec![
                (Outcome::Success, 0, 0),
                (Outcome::Missing, 20, 10),
                (Outcome::Timeout, 20, 11),
                (Outcome::Failed, 20, 12),
                (Outcome::Limited, 20, 13),
                (Outcome::Error, 20, 1),
                (Outcome::Interrupted, 20, 1),
                (Outcome::Cancelled, 20, 1),
            ]
        );
        assert_eq!(Outcome::Unknown.exit_code(false), 1);
    }

    #[test]
    fn interrupted_is_neither_success_nor_failure_and_unknown_is_a_failure() {
        let i = Outcome::Interrupted;
        assert!(i.is_interrupted() && !i.is_success() && !i.is_failure());
        assert!(Outcome::Failed.is_failure() && Outcome::Unknown.is_failure());
        assert!(!Outcome::Success.is_failure());
        assert_eq!(serde_json::to_string(&i).unwrap(), "\"interrupted\"");
        let back: Outcome = serde_json::from_str("\"interrupted\"").unwrap();
        assert_eq!(back, i);
        // A newer offload's outcome reads, as unknown.
        let later: Outcome = serde_json::from_str("\"abandoned\"").unwrap();
        assert_eq!(later, Outcome::Unknown);
    }

    #[test]
    fn serialises_lowercase() {
        assert_eq!(
            serde_json::to_string(&Outcome::Limited).unwrap(),
            "\"limited\""
        );
        let o: Outcome = serde_json::from_str("\"timeout\"").unwrap();
        assert_eq!(o, Outcome::Timeout);
    }
}

/// How the codex process ended, as the runner saw it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ending {
    /// codex could not be started because it is not there or not executable.
    pub missing: bool,
    /// codex could not be started for another reason.
    pub spawn_error: Option<String>,
    /// Its exit code, if it exited by itself.
    pub exit_code: Option<i32>,
    /// The signal that ended it, if any.
    pub signal: Option<i32>,
    /// offload ended it because the wall-clock limit passed.
    pub timed_out: Option<std::time::Duration>,
    /// offload ended it because offload itself got this signal (Ctrl-C, SIGTERM, SIGHUP).
    pub interrupted: Option<i32>,
}

/// Decide the outcome of an attempt from the event stream and the process ending, with the
/// message that explains a non-success.
pub fn classify(
    obs: &crate::codex::events::Observation,
    end: &Ending,
    stderr_tail: &str,
) -> (Outcome, Option<String>) {
    if end.missing {
        let why = end.spawn_error.clone().unwrap_or_default();
        return (Outcome::Missing, Some(why));
    }
    if let Some(e) = &end.spawn_error {
        return (Outcome::Error, Some(e.clone()));
    }
    if let Some(limit) = end.timed_out {
        return (
            Outcome::Timeout,
            Some(format!(
                "no result within {}; codex was ended",
                humantime::format_duration(limit)
            )),
        );
    }
    if let Some(sig) = end.interrupted {
        return (
            Outcome::Interrupted,
            Some(format!(
                "offload was interrupted ({}); codex was ended",
                signal_name(sig)
            )),
        );
    }
    let clean_exit = end.exit_code == Some(0);
    if clean_exit && obs.turn_completed && obs.turn_failed.is_none() {
        return (Outcome::Success, None);
    }
    let message = obs
        .failure_message()
        .map(str::to_owned)
        .or_else(|| stderr_reason(stderr_tail))
        .unwrap_or_default();
    let what = match (end.exit_code, end.signal) {
        (Some(0), _) if !obs.turn_completed => "codex exited 0 without completing the turn".into(),
        (Some(0), _) => "the turn failed".into(),
        (Some(2), _) => "codex rejected its arguments (exit 2)".into(),
        (Some(c), _) => format!("codex exited {c}"),
        (None, Some(s)) => format!("codex was killed by {}", signal_name(s)),
        (None, None) => "codex ended without an exit status".into(),
    };
    let full = if message.is_empty() {
        what
    } else {
        format!("{what}: {message}")
    };
    if crate::codex::events::is_limit_message(&message) {
        (Outcome::Limited, Some(full))
    } else {
        (Outcome::Failed, Some(full))
    }
}

/// What codex's stderr says went wrong, in one line of at most 300 characters: its first line
/// that reads as an error (`Error…`, `error:`, a log line's ` ERROR `) with the lines that go
/// on with it, up to a blank line (codex's config errors put the file, line and reason on the
/// next line: `Error loading config.toml:` / `…/config.toml:2:23: invalid basic string`); else
/// its last line that says something. Never noise: a line of punctuation alone (a TOML error's
/// `|` and `^` markers), a quoted source line (`2 | model = …`), a backtrace (`Stack
/// backtrace:`, `9: <unknown>`, `at src/x.rs:1:2`), or codex's own progress notes.
pub fn stderr_reason(text: &str) -> Option<String> {
    const MAX: usize = 300;
    /// Lines after the error line that may go on with it.
    const MORE: usize = 2;
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let found = match lines.iter().position(|l| is_error_line(l)) {
        Some(at) => {
            let mut said = lines[at].to_owned();
            for l in lines[at + 1..]
                .iter()
                .take_while(|l| !l.is_empty())
                .filter(|l| !is_noise(l))
                .take(MORE)
            {
                said.push(' ');
                said.push_str(l);
            }
            said
        }
        None => lines.iter().rev().find(|l| !is_noise(l))?.to_string(),
    };
    Some(found.chars().take(MAX).collect())
}

fn is_error_line(l: &str) -> bool {
    l.starts_with("Error")
        || l.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("error:"))
        || l.contains(" ERROR ")
}

/// A line of stderr that explains nothing (see [`stderr_reason`]).
fn is_noise(l: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let frame = match l.split_once(": ") {
        Some((n, what)) => {
            digits(n) && (what.starts_with('<') || what.contains("::") || what.starts_with("0x"))
        }
        None => false,
    };
    let quoted_source = l.split_once('|').is_some_and(|(n, _)| digits(n.trim()));
    l.is_empty()
        || !l.chars().any(char::is_alphanumeric)
        || frame
        || quoted_source
        || (l.starts_with("at ") && l.contains(".rs:"))
        || l.eq_ignore_ascii_case("stack backtrace:")
        || l.starts_with("note: run with `RUST_BACKTRACE")
        || l.starts_with("Reading additional input from stdin")
        || l.starts_with("WARNING: proceeding")
}

/// `SIGTERM` for 15, and so on; `signal N` otherwise.
pub fn signal_name(sig: i32) -> String {
    match sig {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        3 => "SIGQUIT".into(),
        6 => "SIGABRT".into(),
        9 => "SIGKILL".into(),
        13 => "SIGPIPE".into(),
        15 => "SIGTERM".into(),
        n => format!("signal {n}"),
    }
}

#[cfg(test)]
mod classify_tests {
    use super::*;
    use crate::codex::events::Observation;

    fn obs(lines: &[&str]) -> Observation {
        let mut o = Observation::default();
        for l in lines {
            o.feed(l);
        }
        o
    }

    const DONE: &str = r#"{"type":"turn.completed","usage":{"input_tokens":1,"output_tokens":1}}"#;

    fn exited(code: i32) -> Ending {
        Ending {
            exit_code: Some(code),
            ..Ending::default()
        }
    }

    #[test]
    fn success_needs_completed_turn_and_exit_zero() {
        assert_eq!(classify(&obs(&[DONE]), &exited(0), "").0, Outcome::Success);
        assert_eq!(classify(&obs(&[]), &exited(0), "").0, Outcome::Failed);
        assert_eq!(classify(&obs(&[DONE]), &exited(1), "").0, Outcome::Failed);
        let failed = r#"{"type":"turn.failed","error":{"message":"x"}}"#;
        assert_eq!(
            classify(&obs(&[DONE, failed]), &exited(0), "").0,
            Outcome::Failed
        );
    }

    #[test]
    fn limits_auth_and_quota_are_limited() {
        for m in [
            "You\u{2019}ve hit your usage limit. Try again at 7:14 AM.",
            "unexpected status 401 Unauthorized: Missing bearer",
            "Quota exceeded. Check your plan and billing details.",
        ] {
            let line = format!(
                r#"{{"type":"turn.failed","error":{{"message":{}}}}}"#,
                serde_json::to_string(m).unwrap()
            );
            let (o, msg) = classify(&obs(&[&line]), &exited(1), "");
            assert_eq!(o, Outcome::Limited, "{m}");
            assert!(msg.unwrap().contains(m));
        }
    }

    #[test]
    fn server_errors_are_failed_with_the_message() {
        let line = r#"{"type":"turn.failed","error":{"message":"We’re currently experiencing high demand"}}"#;
        let (o, msg) = classify(&obs(&[line]), &exited(1), "");
        assert_eq!(o, Outcome::Failed);
        assert_eq!(
            msg.unwrap(),
            "codex exited 1: We’re currently experiencing high demand"
        );
    }

    #[test]
    fn timeout_interrupt_missing_and_spawn_error() {
        let t = Ending {
            timed_out: Some(std::time::Duration::from_secs(2)),
            signal: Some(15),
            ..Ending::default()
        };
        assert_eq!(classify(&obs(&[DONE]), &t, "").0, Outcome::Timeout);
        let i = Ending {
            interrupted: Some(2),
            ..Ending::default()
        };
        let (o, m) = classify(&obs(&[]), &i, "");
        assert_eq!(o, Outcome::Interrupted);
        assert!(m.unwrap().contains("SIGINT"));
        // Interrupted even after the turn completed: the user stopped the run.
        assert_eq!(classify(&obs(&[DONE]), &i, "").0, Outcome::Interrupted);
        let m = Ending {
            missing: true,
            spawn_error: Some("codex not found".into()),
            ..Ending::default()
        };
        assert_eq!(classify(&obs(&[]), &m, "").0, Outcome::Missing);
        let e = Ending {
            spawn_error: Some("fork failed".into()),
            ..Ending::default()
        };
        assert_eq!(classify(&obs(&[]), &e, "").0, Outcome::Error);
    }

    /// What codex 0.171.0 prints on stderr for each, and the reason offload gives.
    #[test]
    fn the_reason_is_codexs_error_with_its_location_never_a_marker_or_a_frame() {
        for (stderr, reason) in [
            (
                "Reading additional input from stdin...\nError loading config.toml:\n\
                 /h/.codex/config.toml:2:23: invalid basic string, expected `\"`\n  |\n\
                 2 | model_provider = \"mock\n  |                       ^\n",
                "Error loading config.toml: /h/.codex/config.toml:2:23: invalid basic string, \
                 expected `\"`",
            ),
            (
                "Error loading config.toml: invalid type: integer `5`, expected a string\n\
                 in `model`\n\n",
                "Error loading config.toml: invalid type: integer `5`, expected a string in \
                 `model`",
            ),
            (
                "Reading additional input from stdin...\nError: thread/start: thread/start failed: \
                 No models are available. (code -32600)\n\nStack backtrace:\n   0: <unknown>\n\
                 1: <unknown>\n   9: <unknown>\n",
                "Error: thread/start: thread/start failed: No models are available. (code -32600)",
            ),
            (
                "error: unexpected argument '--full-auto' found\n\n  tip: to pass it as a value, \
                 use '-- --full-auto'\n\nUsage: codex exec [OPTIONS] [PROMPT]\n",
                "error: unexpected argument '--full-auto' found",
            ),
            (
                "2026-11-29T10:00:00Z ERROR codex_core::client: stream failed\n",
                "2026-11-29T10:00:00Z ERROR codex_core::client: stream failed",
            ),
            (
                "thread 'main' panicked at src/main.rs:3:5:\nboom\nstack backtrace:\n\
                 0: std::rt::lang_start\n             at /rustc/x/library/std/src/rt.rs:1:2\n",
                "boom",
            ),
            ("WARNING: proceeding, even though …\n  |\n  ^^^\n", ""),
        ] {
            assert_eq!(
                stderr_reason(stderr).unwrap_or_default(),
                reason,
                "{stderr}"
            );
        }
        let long = format!("Error: {}\n", "x".repeat(1000));
        assert_eq!(stderr_reason(&long).unwrap().chars().count(), 300);
    }

    #[test]
    fn killed_and_bad_arguments_explained() {
        let k = Ending {
            signal: Some(9),
            ..Ending::default()
        };
        assert_eq!(
            classify(&obs(&[]), &k, "").1.unwrap(),
            "codex was killed by SIGKILL"
        );
        let (o, m) = classify(
            &obs(&[]),
            &exited(2),
            "error: unexpected argument '--full-auto'\n",
        );
        assert_eq!(o, Outcome::Failed);
        assert_eq!(
            m.unwrap(),
            "codex rejected its arguments (exit 2): error: unexpected argument '--full-auto'"
        );
    }
}
