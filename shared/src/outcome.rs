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
//!
//! Bad arguments to offload itself exit 2 (clap's usage error), before any attempt exists.

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
    /// Anything else, including offload's own I/O failures (fail-closed off).
    pub const ERROR: u8 = 1;
    /// Bad arguments to offload itself.
    pub const USAGE: u8 = 2;
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
}

impl Outcome {
    /// Every outcome, in table order.
    pub const ALL: [Outcome; 6] = [
        Outcome::Success,
        Outcome::Missing,
        Outcome::Timeout,
        Outcome::Failed,
        Outcome::Limited,
        Outcome::Error,
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
        }
    }

    /// True only for [`Outcome::Success`].
    pub fn is_success(self) -> bool {
        self == Outcome::Success
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
            (Outcome::Error, false) => exit::ERROR,
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
            ]
        );
    }

    #[test]
    fn serialises_lowercase() {
        assert_eq!(serde_json::to_string(&Outcome::Limited).unwrap(), "\"limited\"");
        let o: Outcome = serde_json::from_str("\"timeout\"").unwrap();
        assert_eq!(o, Outcome::Timeout);
    }
}
