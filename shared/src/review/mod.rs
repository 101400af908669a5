//! The review gate: an opt-in Stop hook that has Codex review what a turn changed before Claude
//! finishes, and sends Claude back once with the findings.
//!
//! - [`git`]: the turn's changes, from snapshots of the work tree taken at the prompt and at the
//!   stop;
//! - [`verdict`]: the review's prompt, and what Codex's answer means;
//! - [`run`]: the review itself, through `offload run` (so it is recorded like any attempt);
//! - [`state`]: the turn's record, the single-flight lock of a review and kept verdicts;
//! - [`gate`]: the decisions at UserPromptSubmit and Stop, and what the hook answers.

pub mod gate;
pub mod git;
pub mod run;
pub mod state;
pub mod verdict;
